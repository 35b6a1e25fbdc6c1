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

/// What the daemons ask of paths beyond reading them (AzureCore's ``FileStatus`` reads): the
/// file system holding a folder, where symbolic links lead, a file's kind and owner. Here, where
/// the C `stat` structure is not ambiguous, for the modules whose imports make it so.
package enum PathProbe {
    /// The size of the open file, or `nil` when it is not a regular file (a FIFO, a device, a
    /// directory) or cannot be examined.
    package static func regularFileSize(descriptor: Int32) -> Int64? {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int64(info.st_size)
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

    /// Whether the process can create a file named `name` in `folder` (created, then removed).
    package static func canCreateFile(in folder: String, named name: String) -> Bool {
        let probe = folder + (folder.hasSuffix("/") ? "" : "/") + name
        let descriptor = open(probe, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        unlink(probe)
        return true
    }
}
