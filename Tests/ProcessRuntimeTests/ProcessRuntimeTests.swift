import CProcessRuntime
import Foundation
import ProcessRuntime
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("The process runtime: the idle memory trim, the allocator, the event-loop clock")
struct ProcessRuntimeTests {
    @Test(
        "the memory trim's thread names itself before the call returns, even when it has nothing to wait for; no other thread takes its name"
    )
    func trimThreadNamesItself() async throws {
        func named() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter { task in
                (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?.hasPrefix(
                    "mr-memory-trim") == true
            }.count
        }
        #expect(mr_trim_memory_after(2000) > 0)
        #expect(named() >= 1, "named as the call returns")
        for _ in 0..<200 { _ = mr_trim_memory_after(0) }
        // Every trim thread ends; had one been named through a handle after it ended, another
        // thread (a reused id) would keep the name.
        #expect(await threadGone(getpid(), named: "mr-memory-trim", within: .seconds(20)))
    }

    @Test("the allocator is tuned on glibc, unless MR_MEMORY_TUNING=off turns the tuning and the idle trim off")
    func allocator() {
        #expect(!MemoryTuning.apply(environment: ["MR_MEMORY_TUNING": "off"]))
        #expect(!MemoryTuning.isEnabled(environment: ["MR_MEMORY_TUNING": "off"]))
        #expect(MemoryTuning.isEnabled(environment: [:]))
        #if canImport(Glibc)
        #expect(MemoryTuning.apply(environment: [:]))
        #endif
    }

    @Test("the event-loop clock sleeps until its deadline, and a cancelled sleep ends at once")
    func eventLoopClock() async throws {
        let clock = EventLoopClock()
        let start = clock.now
        try await clock.sleep(for: .milliseconds(50))
        #expect(start.duration(to: clock.now) >= .milliseconds(50))
        let sleeper = Task { try await clock.sleep(for: .seconds(3600)) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }
}
