import TokenSidecar

await SidecarCommand.runMain()
