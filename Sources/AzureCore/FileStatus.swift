import Synchronization

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

    /// `tmpfs` and `ramfs`: file systems in memory (Kubernetes' `emptyDir.medium: Memory`).
    package static let memoryFileSystems: Set<String> = ["tmpfs", "ramfs"]

    /// The type (`tmpfs`, `ext4`, `overlay`...) of the file system holding the absolute `path`: the
    /// mount in `/proc/self/mountinfo` with the longest mount point above it; `nil` where that
    /// cannot be read.
    package static func fileSystemType(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        var best: (length: Int, type: String)?
        for line in text.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            let fields = halves.first?.split(separator: " ") ?? []
            guard halves.count == 2, fields.count >= 5, let type = halves[1].split(separator: " ").first else {
                continue
            }
            // Mount points escape spaces and the like as octal (\040).
            let mountPoint = String(fields[4]).replacing("\\040", with: " ")
            let under = mountPoint == "/" || path == mountPoint || path.hasPrefix(mountPoint + "/")
            if under, mountPoint.count >= (best?.length ?? -1) { best = (mountPoint.count, String(type)) }
        }
        return best?.type
    }

    /// The absolute `path` with the symbolic links of its folder resolved (`/var/run/x` is
    /// `/run/x` where `/var/run` links to `/run`), `.` and `..` removed; as written, normalized,
    /// when the folder does not exist (a config checked away from its pod).
    package static func resolvedPath(_ path: String) -> String {
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        let folder = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = path[path.index(after: slash)...]
        guard let resolved = realpath(folder, nil) else { return URL(filePath: path).standardizedFileURL.path }
        defer { free(resolved) }
        let real = String(cString: resolved)
        return (real == "/" ? "" : real) + "/" + name
    }

    /// Whether `path` itself is a symbolic link (not followed).
    package static func isSymbolicLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// Whether `path` is a directory (following symbolic links).
    package static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// The mode bits, owner and group of `path` (following symbolic links), or `nil`.
    package static func attributes(_ path: String) -> (mode: UInt16, owner: UInt32, group: UInt32)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt16(info.st_mode & 0o7777), info.st_uid, info.st_gid)
    }

    /// Whether the process can create (and removes again) a file in `folder`.
    package static func canCreateFile(in folder: String) -> Bool {
        let probe = folder + (folder.hasSuffix("/") ? "" : "/") + ".mr-token-sidecar-doctor-\(getpid())"
        let descriptor = open(probe, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        unlink(probe)
        return true
    }
}

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
