#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The files the SDK modules read: secret files, certificates, the token file. Bounded reads with
/// `open`, `fstat` and `read`, and a file's identity to tell its versions apart.
package enum FileStatus {}

extension FileStatus {
    /// Why ``read(_:maxBytes:)`` could not read a file.
    package enum ReadFailure: Error, Equatable, Sendable {
        /// Nothing at the path.
        case missing
        /// A symbolic link to `target`, which does not exist.
        case danglingLink(target: String)
        case directory
        /// A FIFO, a device or a socket: reading one could block or never end.
        case notRegular
        /// Larger than the limit.
        case tooLarge
        case permissionDenied
        /// Another `errno`.
        case other(Int32)
    }

    /// The whole content of the regular file at `path` (following symbolic links), read with one
    /// `open`, `fstat` and `read`s: no name-service look-ups (Foundation's file attributes resolve
    /// the owner's and group's names), and no window between a size check and the read (a file
    /// that grows past `maxBytes` while it is read fails as too large).
    ///
    /// With `followLinks: false`, a symbolic link at `path` is not followed and reads as
    /// ``ReadFailure/notRegular``.
    package static func read(_ path: String, maxBytes: Int, followLinks: Bool = true) -> Result<[UInt8], ReadFailure> {
        // O_NONBLOCK: opening a FIFO waits for a writer otherwise; fstat refuses it next.
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW)
        var descriptor: Int32
        repeat { descriptor = open(path, flags) } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            let code = errno
            switch code {
            case ENOENT:
                var target = [CChar](repeating: 0, count: 4096)
                let length = readlink(path, &target, target.count - 1)
                guard length > 0 else { return .failure(.missing) }
                return .failure(
                    .danglingLink(
                        target: String(decoding: target[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)))
            case EACCES, EPERM: return .failure(.permissionDenied)
            case ELOOP where !followLinks: return .failure(.notRegular)
            default: return .failure(.other(code))
            }
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return .failure(.other(errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .failure(.directory)
        default: return .failure(.notRegular)
        }
        guard info.st_size <= maxBytes else { return .failure(.tooLarge) }
        var content = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var count = 0
        while true {
            if count == content.count {
                // A whole buffer of maxBytes + 1 read: the file grew past the limit.
                guard content.count <= maxBytes else { return .failure(.tooLarge) }
                content += [UInt8](repeating: 0, count: min(content.count, maxBytes + 1 - content.count))
            }
            // pread at the count read so far: the same as read here, without the name clash
            // with this function.
            let got = content.withUnsafeMutableBytes { bytes in
                pread(descriptor, bytes.baseAddress! + count, bytes.count - count, off_t(count))
            }
            if got < 0 {
                if errno == EINTR { continue }
                return .failure(errno == EACCES ? .permissionDenied : .other(errno))
            }
            if got == 0 { break }
            count += got
        }
        content.removeLast(content.count - count)
        return .success(content)
    }
}

extension FileStatus {
    /// What tells one version of a file from the next: a rename over it changes the device or
    /// inode, a write in place the size or the modification time.
    package struct Identity: Equatable, Sendable {
        package var device: UInt64
        package var inode: UInt64
        package var size: Int64
        package var modifiedNanoseconds: Int64

        /// The same file (device and inode), whatever its content.
        package var file: [UInt64] { [device, inode] }
    }

    /// The identity of `path` (following symbolic links), or `nil` when it cannot be examined.
    package static func identity(_ path: String) -> Identity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        return Identity(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modifiedNanoseconds: Int64(modified.tv_sec) * 1_000_000_000 + Int64(modified.tv_nsec))
    }
}
