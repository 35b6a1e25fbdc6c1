import DaemonSupport

MemoryTuning.apply()
await SidecarCommand.runMain()
