import Synchronization
package import TokenSidecar

/// A token sink that keeps files in memory: what was written, how often, and failures on demand.
package final class InMemorySink: TokenSink, Sendable {
    private struct State {
        var files: [String: [UInt8]] = [:]
        var writes = 0
        var failNextWrites = 0
    }

    private let state = Mutex(State())

    package init(files: [String: [UInt8]] = [:]) {
        state.withLock { $0.files = files }
    }

    /// The content of a file, if written.
    package func contents(_ path: String) -> [UInt8]? { state.withLock { $0.files[path] } }

    /// How many writes succeeded.
    package var writes: Int { state.withLock { $0.writes } }

    /// Makes the next `count` writes fail as a full disk would.
    package func failWrites(_ count: Int) { state.withLock { $0.failNextWrites = count } }

    package func write(_ bytes: [UInt8], to path: String, mode: UInt16, owner: Int?, group: Int?) throws(SidecarError) {
        let fail = state.withLock { state -> Bool in
            if state.failNextWrites > 0 {
                state.failNextWrites -= 1
                return true
            }
            state.files[path] = bytes
            state.writes += 1
            return false
        }
        if fail { throw SidecarError(.writeFailed, "cannot write \(path): No space left on device (in-memory sink)") }
    }

    package func read(_ path: String) -> [UInt8]? { contents(path) }

    package func removeStaleTemporaries(for path: String) -> Int { 0 }
}
