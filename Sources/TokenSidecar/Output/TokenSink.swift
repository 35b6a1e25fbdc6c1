/// Where token files are written. The real one writes atomically; tests may substitute another.
package protocol TokenSink: Sendable {
    /// Replaces the file at `path` with `bytes`, atomically, with the mode and owner given.
    func write(_ bytes: [UInt8], to path: String, mode: UInt16, owner: Int?, group: Int?) throws(SidecarError)
    /// The file's content, or `nil` when it does not exist or cannot be read.
    func read(_ path: String) -> [UInt8]?
    /// Removes temporary files a crash may have left next to `path`.
    func removeStaleTemporaries(for path: String) -> Int
}
