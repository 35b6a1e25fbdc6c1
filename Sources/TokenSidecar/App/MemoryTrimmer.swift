import AzureCore
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// glibc's `malloc_trim`, which the Glibc module does not export.
@_silgen_name("malloc_trim")
private func mallocTrim(_ pad: Int) -> Int32

/// Gives memory back to the system once the refreshes are done and the daemon goes idle (often
/// for 12 hours): `malloc_trim`, then `MADV_PAGEOUT` on the read-only file mappings (this
/// binary's code and constants, the shared libraries). Start-up and the first exchange touch most
/// of the 40 MiB binary; until the next refresh none of it is needed, and the pages come back from
/// the page cache when it is. Linux 5.4 or later; elsewhere it does nothing.
final class MemoryTrimmer: Service, Sendable {
    private let (activity, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    private let lastActivity = Mutex<ContinuousClock.Instant?>(nil)
    /// How long no refresh must have happened before trimming.
    let quietPeriod: Duration
    let logger: Logger

    /// - Parameters:
    ///   - quietPeriod: No refresh for this long, and idle connections closed (10 s), before trimming.
    ///   - logger: Where the trim is logged (debug).
    init(quietPeriod: Duration = .seconds(15), logger: Logger) {
        self.quietPeriod = quietPeriod
        self.logger = logger
    }

    /// Says a refresh just happened: trim once things have been quiet for `quietPeriod`.
    func noteActivity() {
        lastActivity.withLock { $0 = .now }
        signal.yield()
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in self.activity {
                // Wait out the burst: activity during the quiet period moves its end.
                while let last = self.lastActivity.withLock({ $0 }) {
                    let remaining = self.quietPeriod - (ContinuousClock.now - last)
                    guard remaining > .zero else { break }
                    guard (try? await EventLoopSleep.sleep(for: remaining)) != nil else { return }
                }
                let released = Self.trim()
                self.logger.debug("idle: memory given back", metadata: [LogKeys.bytes: .integer(released)])
            }
        }
    }

    /// Trims now; returns the bytes of mappings advised out.
    @discardableResult
    static func trim() -> Int {
        #if os(Linux)
        _ = mallocTrim(0)
        guard let maps = try? Data(contentsOf: URL(filePath: "/proc/self/maps")) else { return 0 }
        var advised = 0
        for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // start-end perms offset dev inode path: file-backed, not writable.
            guard fields.count >= 6, fields[5].hasPrefix("/"), fields[1].hasPrefix("r"), !fields[1].contains("w") else {
                continue
            }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                end > start
            else { continue }
            // MADV_PAGEOUT (21): reclaim these pages now; they fault back in from the page cache.
            if madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), 21) == 0 {
                advised += Int(end - start)
            }
        }
        return advised
        #else
        return 0
        #endif
    }
}
