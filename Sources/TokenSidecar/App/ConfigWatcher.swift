import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Watches the config file's identity (following symlinks) and calls `onChange` when it changes.
///
/// With inotify (Linux) it wakes only when something changes in the file's folder (where
/// Kubernetes swaps a ConfigMap's `..data` link) or in its target's, and never otherwise: no
/// periodic check, so that an idle sidecar does not wake (docs/benchmarks.md). When the link
/// points elsewhere afterwards, the watch moves to the new folders. Without inotify, or when no
/// folder can be watched (it does not exist yet), it polls every `pollInterval` until one can.
struct ConfigWatcher: Sendable {
    let path: String
    let pollInterval: Duration
    /// What the polls sleep on.
    let clock: any Clock<Duration>

    /// The folders whose entries decide the file's identity: its own and its target's.
    private func folders() -> Set<String> {
        let resolved = URL(filePath: path).resolvingSymlinksInPath().path
        return Set([path, resolved].map { AtomicFileSink.split($0).directory })
    }

    /// Device and inode of each folder (`nil` for one that does not exist).
    private static func folderIdentities(_ folders: Set<String>) -> [[UInt64]?] {
        folders.sorted().map { FileStatus.identity($0)?.file }
    }

    /// Watches until the task is cancelled.
    func run(onChange: @Sendable () -> Void) async {
        var last = FileStatus.identity(path)
        while !Task.isCancelled {
            let watched = folders()
            // A folder deleted or replaced loses its watch (inotify then reports IN_IGNORED,
            // which wakes this loop): its device and inode tell.
            let identities = Self.folderIdentities(watched)
            let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            let notifier = FolderNotifier(folders: watched.sorted()) { signal.yield() }
            defer { notifier?.cancel() }
            var iterator = changes.makeAsyncIterator()
            while !Task.isCancelled {
                // Looked at first, so that a change made while the watch moved is not missed.
                let now = FileStatus.identity(path)
                if now != last {
                    last = now
                    if now != nil { onChange() }
                }
                // The link moved, or a folder appeared, went or was replaced: watch anew.
                if folders() != watched || Self.folderIdentities(watched) != identities { break }
                if notifier != nil {
                    // Until something changes in a watched folder; nil when the task is cancelled.
                    guard await iterator.next() != nil else { return }
                } else {
                    guard (try? await clock.sleep(for: pollInterval)) != nil else { return }
                }
            }
        }
    }
}
