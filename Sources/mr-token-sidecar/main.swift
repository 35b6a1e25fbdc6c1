import ProcessRuntime

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// Swift concurrency on NIO's event loops: an idle sidecar or webhook never wakes (GlobalExecutor).
GlobalExecutor.installNIO(environment: ProcessInfo.processInfo.environment)
MemoryTuning.apply()
await SidecarCommand.runMain()
