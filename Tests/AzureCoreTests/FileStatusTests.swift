import Foundation
import Testing

@testable import AzureCore

@Suite("Reading small files")
struct FileStatusTests {
    /// A fresh folder, removed after `body`.
    private func inFolder(_ body: (String) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "file-status-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try body(folder)
    }

    @Test("a regular file is read whole, up to and including the limit; one byte more is too large")
    func regular() throws {
        try inFolder { folder in
            let path = folder + "/file"
            let content = [UInt8]((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try Data(content).write(to: URL(filePath: path))
            #expect(try FileStatus.read(path, maxBytes: content.count).get() == content)
            #expect(FileStatus.read(path, maxBytes: content.count - 1) == .failure(.tooLarge))
            try Data().write(to: URL(filePath: path))
            #expect(try FileStatus.read(path, maxBytes: 10).get() == [])
        }
    }

    @Test(
        "what is not a regular file says what it is: missing, a dangling link and its target, a directory, a FIFO (without waiting for a writer)",
        .timeLimit(.minutes(1)))
    func notRegular() throws {
        try inFolder { folder in
            #expect(FileStatus.read(folder + "/missing", maxBytes: 10) == .failure(.missing))
            #expect(symlink(folder + "/gone", folder + "/link") == 0)
            #expect(
                FileStatus.read(folder + "/link", maxBytes: 10) == .failure(.danglingLink(target: folder + "/gone")))
            #expect(FileStatus.read(folder, maxBytes: 10) == .failure(.directory))
            #expect(mkfifo(folder + "/fifo", 0o600) == 0)
            #expect(FileStatus.read(folder + "/fifo", maxBytes: 10) == .failure(.notRegular))
            #expect(FileStatus.read("/dev/zero", maxBytes: 10) == .failure(.notRegular))
            if getuid() != 0 {  // root reads a mode-000 file anyway
                let path = folder + "/secret"
                try Data("x".utf8).write(to: URL(filePath: path))
                #expect(chmod(path, 0) == 0)
                #expect(FileStatus.read(path, maxBytes: 10) == .failure(.permissionDenied))
            }
        }
    }
}
