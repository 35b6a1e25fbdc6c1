import AzureCore
import DaemonFiles
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes token files so that a reader never sees a partial, empty or missing file: a temporary
/// file in the same folder (exclusive create, no symlink following), write, fsync, mode and
/// owner, rename over the target, fsync the folder. The temporary file is removed on every
/// failure path.
///
/// Every step goes through a descriptor of the folder opened without following a symbolic link
/// there: another container of the pod, which can write the shared volume, cannot redirect the
/// write by swapping the folder for a link between two writes.
package struct AtomicFileSink: TokenSink {
    package static let temporaryMarker = ".mr-token-tmp-"

    /// The random part of the temporary name (fixed by the tests that plant a symlink there).
    package var temporarySuffix: @Sendable () -> String = { AtomicFileSink.randomSuffix() }
    /// The temporaries of each folder listed so far and not yet removed, by folder.
    private let listed = NIOLockedValueBox<[String: [String]]>([:])

    package init() {}

    package func write(_ bytes: [UInt8], to path: String, mode: UInt16, owner: Int?, group: Int?) throws(SidecarError) {
        let (directory, name) = Self.split(path)
        let folder = try Self.openFolder(directory)
        defer { close(folder) }
        let temporary = "." + name + Self.temporaryMarker + temporarySuffix()
        let fd = openat(folder, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SidecarError(
                .writeFailed,
                "cannot create a temporary file in \(directory): \(Self.errnoText())"
                    + "; the folder must exist and be writable by this user (uid \(getuid()))")
        }
        var keep = false
        defer {
            if !keep { unlinkat(folder, temporary, 0) }
        }
        do {
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw SidecarError(.writeFailed, "cannot write \(path): \(Self.errnoText())")
                }
                offset += written
            }
            guard fchmod(fd, mode_t(mode)) == 0 else {
                throw SidecarError(
                    .writeFailed, "cannot set mode \(String(mode, radix: 8)) on \(path): \(Self.errnoText())")
            }
            if owner != nil || group != nil {
                let uid = owner.map { uid_t($0) } ?? uid_t.max
                let gid = group.map { gid_t($0) } ?? gid_t.max
                guard fchown(fd, uid, gid) == 0 else {
                    throw SidecarError(
                        .writeFailed,
                        "cannot set owner \(owner.map(String.init) ?? "-"):\(group.map(String.init) ?? "-") on \(path): \(Self.errnoText())"
                            + "; changing the owner needs CAP_CHOWN, prefer fsGroup and a group-readable mode",
                        isRetriable: false)
                }
            }
            guard fsync(fd) == 0 else { throw SidecarError(.writeFailed, "cannot fsync \(path): \(Self.errnoText())") }
        }
        guard renameat(folder, temporary, folder, name) == 0 else {
            throw SidecarError(.writeFailed, "cannot rename the new file over \(path): \(Self.errnoText())")
        }
        keep = true
        fsync(folder)
    }

    /// The folder `directory`, opened without following a symbolic link in its last part (links
    /// above it, such as `/var/run` to `/run`, are the image's and followed).
    /// - Throws: ``SidecarError`` (`writeFailed`) naming the folder, and saying when it is a link.
    static func openFolder(_ directory: String) throws(SidecarError) -> Int32 {
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else {
            let code = errno
            if code == ELOOP || (code == ENOTDIR && PathProbe.isSymbolicLink(directory)) {
                throw SidecarError(
                    .writeFailed,
                    "\(directory) is a symbolic link, not a folder: tokens are written into a real folder only"
                        + " (another container of the pod may have replaced it); name the folder itself")
            }
            throw SidecarError(
                .writeFailed,
                "cannot open the folder \(directory): \(String(cString: strerror(code)))"
                    + "; the folder must exist and be writable by this user (uid \(getuid()))")
        }
        return folder
    }

    /// The token at `path`, if a regular file is there: a symbolic link is not followed (it is not
    /// the sidecar's file, and could point at one of its secrets).
    package func read(_ path: String) -> [UInt8]? {
        try? FileStatus.read(path, maxBytes: 1 << 20, followLinks: false).get()
    }

    /// Removes the temporary files an interrupted write of `path` left (`.<name>.mr-token-tmp-*`).
    /// Each folder is listed once per sink: 1,000 accounts writing into one folder cost one
    /// listing, not 1,000 (a listing of 1,000 entries each). Temporaries of this process's own
    /// writes never outlive the write, so what a folder held when first listed is all there is to
    /// remove.
    package func removeStaleTemporaries(for path: String) -> Int {
        let (directory, name) = Self.split(path)
        let prefix = "." + name + Self.temporaryMarker
        let stale = listed.withLockedValue { listed -> [String] in
            var temporaries = listed[directory] ?? Self.temporaries(in: directory)
            let mine = temporaries.filter { $0.hasPrefix(prefix) }
            temporaries.removeAll { $0.hasPrefix(prefix) }
            listed[directory] = temporaries
            return mine
        }
        guard !stale.isEmpty, let folder = try? Self.openFolder(directory) else { return 0 }
        defer { close(folder) }
        return stale.reduce(0) { $0 + (unlinkat(folder, $1, 0) == 0 ? 1 : 0) }
    }

    /// The names in `directory` that hold the temporary marker.
    private static func temporaries(in directory: String) -> [String] {
        guard let folder = try? openFolder(directory) else { return [] }
        guard let handle = fdopendir(folder) else {
            close(folder)
            return []
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if entryName.contains(temporaryMarker) { names.append(entryName) }
        }
        return names
    }

    package static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    package static func randomSuffix() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next(), radix: 36)
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
