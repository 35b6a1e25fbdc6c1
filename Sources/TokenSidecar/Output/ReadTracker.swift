import AzureCore
package import Logging
import ServiceLifecycle
package import SidecarConfig
import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sees the application pick up each new token: the output folders are watched with inotify, and
/// an open of a token file by another process (every container of the pod shares the in-memory
/// volume, and inotify sees them all) is the application reading it. The sidecar's own reads are
/// announced first and not counted.
///
/// Limits (docs/consuming-tokens.md): a reader that keeps the file open and re-reads it with
/// `pread` reads the old token and is seen only when it opens the file again; a reader that
/// `mmap`s it is seen at the open only; another process reading the file (`cat`, the `token`
/// command) counts as a read.
///
/// The inotify instance is AzureCore's ``Inotify``; its events arrive on one queue and touch only
/// the `Mutex`-guarded state.
package final class ReadTracker: Sendable {
    private struct Tracked {
        var account: String
        var expectReadWithin: Duration?
    }

    private struct State {
        /// Token file path → its account.
        var paths: [String: Tracked] = [:]
        /// Opens the sidecar announced and inotify has not reported yet, by path.
        var ownOpens: [String: Int] = [:]
        /// When each account's latest token must have been read by, and for which file.
        var deadlines: [String: (at: Date, path: String)] = [:]
        /// Where each account's reads go: its refresh loop, whose state machine keeps them.
        var receivers: [String: @Sendable (Date) -> Void] = [:]
    }

    private let board: StatusBoard
    private let logger: Logger
    /// When a read happened, and what the deadlines are waited on.
    private let clock: WallTime
    private let state = Mutex(State())
    /// The inotify instance (tests read its watches in `/proc/self/fdinfo`).
    package var descriptor: Int32 { inotify.descriptor }
    private let inotify: Inotify
    /// Cuts the deadline sleep short when a new deadline is set.
    private let deadlineChange = Waker()

    /// Starts watching (no folder yet: ``track(_:)`` adds them); `nil` where inotify is not
    /// available.
    package init?(board: StatusBoard, clock: WallTime, logger: Logger) {
        self.clock = clock
        self.board = board
        self.logger = logger
        guard let inotify = Inotify(label: "mr-token-sidecar.read-tracker") else { return nil }
        self.inotify = inotify
        inotify.start { [weak self] events in self?.opened(events) }
    }

    /// Watches the output files of these accounts, and forgets the others and their folders.
    package func track(_ accounts: [AccountConfiguration]) {
        var paths: [String: Tracked] = [:]
        for account in accounts {
            for output in account.outputs {
                paths[output.path] = Tracked(
                    account: account.name.value, expectReadWithin: output.expectReadWithin?.duration)
            }
        }
        let folders = Set(paths.keys.map { AtomicFileSink.split($0).directory })
        let accounts = Set(accounts.map(\.name.value))
        state.withLock { state in
            state.paths = paths
            state.deadlines = state.deadlines.filter { accounts.contains($0.key) }
        }
        // Folders no output uses any more: their watches go (a reload that moves the outputs).
        inotify.keepWatching(only: folders)
        for folder in folders.subtracting(inotify.folders) { inotify.watch(folder, mask: UInt32(IN_OPEN)) }
    }

    /// The sidecar is about to open `path` itself: that open is not the application's.
    package func expectOwnOpen(of path: String) {
        state.withLock { $0.ownOpens[path, default: 0] += 1 }
    }

    /// The open announced did not happen (the file was missing).
    package func cancelOwnOpen(of path: String) {
        state.withLock { state in
            if let count = state.ownOpens[path] { state.ownOpens[path] = count > 1 ? count - 1 : nil }
        }
    }

    /// Sends the application's reads of `account`'s files to `receiver` (its refresh loop).
    package func receiveReads(of account: String, _ receiver: @escaping @Sendable (Date) -> Void) {
        state.withLock { $0.receivers[account] = receiver }
    }

    /// The account's loop ended: its reads go nowhere until another starts.
    package func stopReceivingReads(of account: String) {
        _ = state.withLock { $0.receivers.removeValue(forKey: account) }
    }

    /// The sidecar wrote a new token to `path`: if its output expects a read within a time, the
    /// deadline starts now.
    package func written(account: String, path: String, at time: Date) {
        let within = state.withLock { state -> Duration? in
            let within = state.paths[path]?.expectReadWithin
            if let within {
                state.deadlines[account] = (time.addingTimeInterval(within.seconds), path)
            } else {
                state.deadlines[account] = nil
            }
            return within
        }
        if within != nil { deadlineChange.wake() }
    }

    /// Warns once for each new token the application has not read in time, until cancelled.
    package func run() async {
        while !Task.isCancelled {
            let next = state.withLock { $0.deadlines.values.map(\.at).min() }
            // Until the earliest deadline or a new one; with none, until a new one.
            _ = await sleep(until: next)
            let now = clock.now()
            let due = state.withLock { state -> [(String, String)] in
                let due = state.deadlines.filter { $0.value.at <= now }
                for account in due.keys { state.deadlines[account] = nil }
                return due.map { ($0.key, $0.value.path) }
            }
            for (account, path) in due where board.snapshot(account)?.readSinceWrite != true {
                logger.warning(
                    "the application has not read the new token in time: it may still use the old one (see docs/consuming-tokens.md)",
                    metadata: [LogKeys.account: "\(account)", LogKeys.path: "\(path)"])
            }
        }
    }

    /// Until `date` on the clock (`nil`: until woken) or a new deadline.
    private func sleep(until date: Date?) async -> Bool {
        guard let date else { return await deadlineChange.sleep(nil) }
        let clock = self.clock
        return await deadlineChange.sleep { try await clock.sleep(date) }
    }

    /// Stops watching.
    package func cancel() {
        inotify.cancel()
        deadlineChange.wake()
    }

    /// An open of a tracked file by someone else is a read.
    private func opened(_ events: [Inotify.Event]) {
        let now = clock.now()
        for event in events where event.mask & UInt32(IN_OPEN) != 0 && event.mask & UInt32(IN_ISDIR) == 0 {
            guard !event.name.isEmpty, let folder = inotify.folder(of: event.watch) else { continue }
            reported(folder.hasSuffix("/") ? folder + event.name : folder + "/" + event.name, at: now)
        }
    }

    private func reported(_ path: String, at time: Date) {
        let reader = state.withLock { state -> (account: String, receiver: (@Sendable (Date) -> Void)?)? in
            guard let tracked = state.paths[path] else { return nil }
            if let own = state.ownOpens[path] {
                state.ownOpens[path] = own > 1 ? own - 1 : nil
                return nil
            }
            return (tracked.account, state.receivers[tracked.account])
        }
        guard let (account, receiver) = reader else { return }
        let wasRead = board.snapshot(account)?.readSinceWrite == true
        receiver?(time)
        if !wasRead {
            logger.debug(
                "the application read the new token",
                metadata: [LogKeys.account: "\(account)", LogKeys.path: "\(path)"])
        }
    }
}

/// Runs the read tracker's warnings until graceful shutdown, then stops watching.
struct ReadTrackerService: Service {
    let tracker: ReadTracker

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await tracker.run()
        }
        tracker.cancel()
    }
}
