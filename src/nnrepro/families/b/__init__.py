"""Family B: CIFAR-10 MLP: Adam from scratch, SWA, SWAG (seed 001 (001_a601dbe08ea9d51e.txt)). See nnrepro.families."""
