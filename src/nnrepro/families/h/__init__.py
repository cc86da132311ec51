"""Family H: Batch normalization (seed 004 (004_ddb182e3f50ea0b5.txt) §6.4). See nnrepro.families."""
