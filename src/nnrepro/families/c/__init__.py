"""Family C: Gradient flow and initialization (seeds 001 (001_a601dbe08ea9d51e.txt), 004 (004_ddb182e3f50ea0b5.txt) §6.5). See nnrepro.families."""
