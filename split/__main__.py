from split.cli import main

main()
