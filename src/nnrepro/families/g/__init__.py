"""Family G: Loss landscape (seeds 003 (003_b77660be62ccec55.txt), 004 (004_ddb182e3f50ea0b5.txt)). See nnrepro.families."""
