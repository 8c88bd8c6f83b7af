import MLPCommandLine

MLPCommand.main()
