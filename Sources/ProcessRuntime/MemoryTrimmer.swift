import AzureCore
import CProcessRuntime
package import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Gives memory back to the system once the refreshes are done and the daemon goes idle (often
/// for 12 hours): `malloc_trim`, then `MADV_PAGEOUT` on the read-only file mappings (this
/// binary's code and constants, the shared libraries), from a thread of its own once the event
/// loops sleep (`mr_trim_memory_after`). Start-up and the first exchange touch most of the 38 MB
/// binary; until the next refresh none of it is needed, and the pages come back from the page
/// cache (or the disk) when it is. Pages another process maps too (a second sidecar of the same
/// image on the node) stay. Linux 5.4 or later; elsewhere it does nothing.
///
/// Probe requests and scrapes fault the probe server's pages back in (about 10 MiB of file-backed
/// pages, the kernel mapping 64 KiB around each fault) and they stay until the next refresh's
/// trim: trimming after probes too would spend about 7 ms of CPU faulting them back at each
/// round of probes (docs/benchmarks.md).
package final class MemoryTrimmer: Service, Sendable {
    private let (activity, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    private let lastActivity = Mutex<ContinuousClock.Instant?>(nil)
    /// How long no refresh must have happened before trimming.
    let quietPeriod: Duration
    let logger: Logger
    /// What the quiet period is waited out on.
    private let clock: any Clock<Duration>

    /// - Parameters:
    ///   - quietPeriod: No refresh for this long, and idle connections closed (250 ms after their
    ///     last request, HTTPPipeline), before trimming: what runs to close them would fault pages
    ///     back in.
    ///   - logger: Where the trim is logged (debug).
    ///   - clock: What the quiet period is waited out on (``GlobalExecutor/clock``).
    package init(quietPeriod: Duration = .milliseconds(500), logger: Logger, clock: any Clock<Duration>) {
        self.quietPeriod = quietPeriod
        self.logger = logger
        self.clock = clock
    }

    /// Says a refresh just happened: trim once things have been quiet for `quietPeriod`.
    package func noteActivity() {
        lastActivity.withLock { $0 = .now }
        signal.yield()
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in self.activity {
                // Wait out the burst: activity during the quiet period moves its end.
                while let last = self.lastActivity.withLock({ $0 }) {
                    let remaining = self.quietPeriod - (ContinuousClock.now - last)
                    guard remaining > .zero else { break }
                    guard (try? await self.clock.sleep(for: remaining)) != nil else { return }
                }
                // From a thread of its own, 50 ms from now, when this task and its event loop are
                // asleep again (mr_process_runtime.h says why).
                let advised = mr_trim_memory_after(50)
                self.logger.debug("idle: memory given back", metadata: [LogKeys.bytes: .integer(Int(advised))])
            }
        }
    }
}
