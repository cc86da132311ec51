"""Family L: Ensemble evaluation (all seeds; beyond the documents). See nnrepro.families."""
