"""Family E: Implicit bias and dynamical systems (seed 002 (002_1ddb900bea60f740.txt)). See nnrepro.families."""
