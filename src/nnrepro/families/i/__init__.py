"""Family I: Reparameterization and Path-SGD (seed 003 (003_b77660be62ccec55.txt)). See nnrepro.families."""
