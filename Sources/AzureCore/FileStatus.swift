#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `fstat` says about an open file, for the modules whose imports make the C `stat`
/// structure ambiguous.
package enum FileStatus {
    /// The size of the open file, or `nil` when it is not a regular file (a FIFO, a device, a
    /// directory) or cannot be examined.
    package static func regularFileSize(descriptor: Int32) -> Int64? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int64(info.st_size)
    }
}
