await SidecarCommand.runMain()
