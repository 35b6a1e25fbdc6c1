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

    /// What a file (a regular file, a pipe, `/dev/fd/N` from a shell's process substitution) or
    /// standard input (`path` nil) holds, read to its end; an error with the reason when it cannot be
    /// opened or read, or holds more than `maxBytes`.
    package static func readAll(_ path: String?, maxBytes: Int) -> Result<[UInt8], ReadError> {
        var descriptor: Int32 = 0
        if let path {
            repeat { descriptor = open(path, O_RDONLY | O_CLOEXEC) } while descriptor < 0 && errno == EINTR
            guard descriptor >= 0 else { return .failure(ReadError(reason: String(cString: strerror(errno)))) }
        }
        defer { if path != nil { close(descriptor) } }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return .failure(ReadError(reason: String(cString: strerror(errno)))) }
            if count == 0 { return .success(bytes) }
            bytes += chunk[..<count]
            guard bytes.count <= maxBytes else {
                return .failure(ReadError(reason: "larger than \(maxBytes / 1_048_576) MiB"))
            }
        }
    }

    /// Why ``readAll(_:maxBytes:)`` failed.
    package struct ReadError: Error, Sendable, CustomStringConvertible {
        package var reason: String
        package var description: String { reason }
    }

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

    private static func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.read(descriptor, buffer, count)
        #elseif canImport(Musl)
        Musl.read(descriptor, buffer, count)
        #else
        Darwin.read(descriptor, buffer, count)
        #endif
    }
}
