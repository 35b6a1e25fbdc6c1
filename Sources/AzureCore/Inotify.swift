import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One inotify instance read through a dispatch source on a serial queue: no thread waits and no
/// timer runs while nothing happens (a serial queue never starts libdispatch's once-a-second
/// workqueue monitor, docs/architecture.md). Watches are added and removed by folder; each batch
/// of events is handed to the handler of ``start(_:)`` on the queue. ``FolderNotifier`` (the config file, the app's
/// token file) and the sidecar's read tracker are built on it.
///
/// `@unchecked Sendable`: the dispatch source is created, resumed and cancelled here only, and
/// dispatch serializes its handler on the queue; the watches are behind a `Mutex`.
package final class Inotify: @unchecked Sendable {
    /// One event: the folder's watch, what happened, and the entry's name (empty for the folder
    /// itself).
    package struct Event: Sendable {
        package var watch: Int32
        package var mask: UInt32
        package var name: String
    }

    /// The inotify descriptor (tests read its watches in `/proc/self/fdinfo`).
    package let descriptor: Int32
    private let source: any DispatchSourceRead
    /// Watch descriptor → folder.
    private let watches = Mutex<[Int32: String]>([:])
    /// Whether the source was resumed.
    private let started = Mutex(false)

    /// Opens an instance; `nil` where inotify is not available. Nothing is read before
    /// ``start(_:)``.
    /// - Parameter label: The dispatch queue's label.
    package init?(label: String) {
        #if os(Linux)
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: DispatchQueue(label: label))
        source.setCancelHandler { close(descriptor) }
        #else
        return nil
        #endif
    }

    /// Starts reading: each batch of events goes to `onEvents`, on the queue. Call once.
    package func start(_ onEvents: @escaping @Sendable (_ events: [Event]) -> Void) {
        source.setEventHandler { [weak self] in
            guard let self else { return }
            let events = self.drain()
            if !events.isEmpty { onEvents(events) }
        }
        started.withLock { started in
            if !started {
                started = true
                source.resume()
            }
        }
    }

    /// Watches `folder` for `mask` events; `false` when it cannot be watched (it does not exist).
    @discardableResult
    package func watch(_ folder: String, mask: UInt32) -> Bool {
        #if os(Linux)
        let watch = inotify_add_watch(descriptor, folder, mask)
        guard watch >= 0 else { return false }
        watches.withLock { $0[watch] = folder }
        return true
        #else
        return false
        #endif
    }

    /// Stops watching every folder not in `folders`.
    package func keepWatching(only folders: Set<String>) {
        #if os(Linux)
        watches.withLock { watches in
            for (watch, folder) in watches where !folders.contains(folder) {
                inotify_rm_watch(descriptor, watch)
                watches[watch] = nil
            }
        }
        #endif
    }

    /// The folders watched.
    package var folders: Set<String> { Set(watches.withLock { $0.values }) }

    /// The folder of a watch, while it is watched.
    package func folder(of watch: Int32) -> String? { watches.withLock { $0[watch] } }

    /// Stops reading and closes the descriptor (a source never started is started to be
    /// cancelled: dispatch requires it).
    package func cancel() {
        started.withLock { started in
            if !started {
                started = true
                source.resume()
            }
        }
        source.cancel()
    }

    /// Reads every pending event.
    private func drain() -> [Event] {
        #if os(Linux)
        var buffer = [UInt8](repeating: 0, count: 8192)
        let headerSize = MemoryLayout<inotify_event>.size
        var events: [Event] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { return events }
            var offset = 0
            while offset + headerSize <= count {
                let (watch, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let start = offset + headerSize
                let name = buffer[start..<min(start + length, count)].prefix { $0 != 0 }
                events.append(Event(watch: watch, mask: mask, name: String(decoding: name, as: UTF8.self)))
                offset += headerSize + length
            }
        }
        #else
        return []
        #endif
    }
}
