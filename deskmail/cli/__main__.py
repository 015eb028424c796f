from deskmail.cli import main

main()
