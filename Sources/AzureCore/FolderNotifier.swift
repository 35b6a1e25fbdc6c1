import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Calls `onChange` when an entry of one of the folders is created, deleted, renamed, written or
/// has its attributes changed (inotify, read through a dispatch source: no thread waits and no
/// timer runs while nothing changes).
///
/// Shared by the sidecar's config watcher and the applications' `TokenFileCredential`. The
/// dispatch queue is serial, so it never starts libdispatch's once-a-second workqueue monitor
/// (docs/architecture.md).
///
/// `@unchecked Sendable`: the dispatch source is created, resumed and cancelled here only, and
/// dispatch serializes its handlers on `queue`.
package final class FolderNotifier: @unchecked Sendable {
    private let source: any DispatchSourceRead

    /// Starts watching; `nil` where inotify is not available (the caller then polls).
    package init?(folders: [String], onChange: @escaping @Sendable () -> Void) {
        #if os(Linux)
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        let mask = UInt32(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB | IN_MODIFY)
        var watching = 0
        for folder in folders where inotify_add_watch(descriptor, folder, mask) >= 0 { watching += 1 }
        guard watching > 0 else {
            close(descriptor)
            return nil
        }
        let queue = DispatchQueue(label: "folder-notifier")
        source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        source.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
            onChange()
        }
        source.setCancelHandler { close(descriptor) }
        source.resume()
        #else
        return nil
        #endif
    }

    package func cancel() { source.cancel() }
}
