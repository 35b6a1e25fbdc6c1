#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Watches the config file's identity (following symlinks) and calls `onChange` when it changes.
///
/// With inotify (Linux) it wakes only when something changes in the file's folder (where
/// Kubernetes swaps a ConfigMap's `..data` link) or in its target's, plus a check a minute in
/// case an event was missed; without, it polls every `pollInterval`.
struct ConfigWatcher: Sendable {
    let path: String
    let pollInterval: Duration

    /// Watches until the task is cancelled.
    func run(onChange: @Sendable () -> Void) async {
        var last = FileIdentity(path)
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let resolved = URL(filePath: path).resolvingSymlinksInPath().path
        let folders = Set([path, resolved].map { AtomicFileSink.split($0).directory })
        let notifier = FolderNotifier(folders: Array(folders)) { signal.yield() }
        defer { notifier?.cancel() }
        let interval = notifier == nil ? pollInterval : max(pollInterval, .seconds(60))
        while !Task.isCancelled {
            if notifier != nil {
                // Wake on a change or after `interval`, whichever comes first.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await _ in changes { return }
                        // The stream only ends with the notifier; never spin on it.
                        try? await Task.sleep(for: interval)
                    }
                    group.addTask { try? await Task.sleep(for: interval) }
                    await group.next()
                    group.cancelAll()
                }
            } else {
                try? await Task.sleep(for: interval)
            }
            let now = FileIdentity(path)
            if now != last {
                last = now
                if now != nil { onChange() }
            }
        }
    }
}

/// Device, inode, size and modification time of a file, following symlinks.
struct FileIdentity: Equatable {
    let values: [Int64]

    init?(_ path: String) {
        guard
            let attributes = try? FileManager.default.attributesOfItem(
                atPath: URL(filePath: path).resolvingSymlinksInPath().path)
        else { return nil }
        values = [
            (attributes[.systemNumber] as? Int).map(Int64.init) ?? 0,
            (attributes[.systemFileNumber] as? Int).map(Int64.init) ?? 0,
            (attributes[.size] as? Int).map(Int64.init) ?? 0,
            Int64(((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) * 1_000_000),
        ]
    }
}
