import Synchronization

/// Values read from files (a parsed certificate, a CA bundle), each read again when its file
/// changes (``FileStatus/identity(_:)``). The identity is taken before the read: a file replaced
/// in between is read again at the next call.
package final class FileVersionCache<Value: Sendable>: Sendable {
    private let entries = Mutex<[String: (identity: FileStatus.Identity, value: Value)]>([:])

    package init() {}

    /// The value read from `path`, or `read()`'s when the file changed or was never read.
    package func value<E: Error>(_ path: String, read: () throws(E) -> Value) throws(E) -> Value {
        let identity = FileStatus.identity(path)
        if let identity, let cached = entries.withLock({ $0[path] }), cached.identity == identity {
            return cached.value
        }
        let value = try read()
        if let identity { entries.withLock { $0[path] = (identity, value) } }
        return value
    }
}
