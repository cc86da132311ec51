from nnrepro.cli import main

main()
