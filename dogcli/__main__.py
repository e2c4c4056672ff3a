from dogcli.cli import main

main()
