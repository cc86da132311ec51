"""Family J: Lottery tickets (seed 004 (004_ddb182e3f50ea0b5.txt) §6.6.2). See nnrepro.families."""
