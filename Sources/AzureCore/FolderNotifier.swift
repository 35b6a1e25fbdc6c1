#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Calls `onChange` when an entry of one of the folders is created, deleted, renamed, written or
/// has its attributes changed (``Inotify``: no thread waits and no timer runs while nothing
/// changes).
///
/// Shared by the sidecar's config watcher and the applications' `TokenFileCredential`.
package final class FolderNotifier: Sendable {
    private let inotify: Inotify

    /// Starts watching; `nil` where inotify is not available or no folder can be watched (the
    /// caller then polls).
    package init?(folders: [String], onChange: @escaping @Sendable () -> Void) {
        #if os(Linux)
        guard let inotify = Inotify(label: "folder-notifier") else { return nil }
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB | IN_MODIFY)
        var watching = 0
        for folder in folders where inotify.watch(folder, mask: mask) { watching += 1 }
        guard watching > 0 else {
            inotify.cancel()
            return nil
        }
        self.inotify = inotify
        inotify.start { _ in onChange() }
        #else
        return nil
        #endif
    }

    package func cancel() { inotify.cancel() }
}
