"""Family A: SGHMC and the weight-norm burst (seed 000 (000_53579571c08593e0.txt)). See nnrepro.families."""
