from hepadv.cli.main import main

main()
