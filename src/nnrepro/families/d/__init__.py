"""Family D: Optimizer geometry (seeds 001, 002, 003, 004). See nnrepro.families."""
