#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to standard output and error (FoundationEssentials has no `FileHandle`).
package enum StandardStreams {
    /// Writes `text` to standard error.
    package static func error(_ text: String) { write(text, to: 2) }

    /// Writes `text` to standard output.
    package static func output(_ text: String) { write(text, to: 1) }

    /// Writes `text` into the file at `path` in place: opened for writing (created, mode 0644, only
    /// when `create`), truncated, a link there not followed. No temporary file and no rename: a
    /// file bind-mounted into the container (Kubernetes' `/dev/termination-log`) cannot be renamed
    /// over, and its folder may be root-owned while the file is the process's to write.
    /// - Returns: Whether the whole text was written.
    @discardableResult
    package static func overwrite(_ path: String, with text: String, create: Bool) -> Bool {
        var descriptor: Int32
        repeat {
            descriptor = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return write(text, to: descriptor)
    }

    @discardableResult
    private static func write(_ text: String, to descriptor: Int32) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            bytes = bytes.dropFirst(written)
        }
        return true
    }

    private static func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(descriptor, buffer, count)
        #elseif canImport(Musl)
        Musl.write(descriptor, buffer, count)
        #else
        Darwin.write(descriptor, buffer, count)
        #endif
    }
}
