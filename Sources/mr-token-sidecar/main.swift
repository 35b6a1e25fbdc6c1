import ProcessRuntime

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The process runtime (docs/architecture.md): Swift concurrency on NIO's event loops, so that an
// idle sidecar or webhook never wakes (MR_GLOBAL_EXECUTOR=dispatch turns it off), and glibc's
// allocator tuned for a small resident set (MR_MEMORY_TUNING=off turns it off).
GlobalExecutor.installNIO(environment: ProcessInfo.processInfo.environment)
MemoryTuning.apply(environment: ProcessInfo.processInfo.environment)
await SidecarCommand.runMain()
