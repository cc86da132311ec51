"""Family K: Kernels (seed 001 (001_a601dbe08ea9d51e.txt)). See nnrepro.families."""
