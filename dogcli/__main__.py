from dogcli.cli.app import main

main()
