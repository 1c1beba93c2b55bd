from toontag.cli import main

main()
