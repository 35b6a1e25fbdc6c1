import DaemonSupport
import Foundation
import Logging
import STSEmulator
import SidecarConfig
import TestSupport
import Testing

@testable import TokenSidecar

@Suite("Atomic token files")
struct AtomicWriteTests {
    let sink = AtomicFileSink()

    @Test("the file gets exactly the bytes and mode given, whatever the umask; owner and group when asked")
    func modeAndOwner() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("a.token").path
            let previous = umask(0o077)
            defer { umask(previous) }
            try sink.write(Array("first".utf8), to: path, mode: 0o440, owner: nil, group: nil)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "first")
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o440)
            try sink.write(Array("second".utf8), to: path, mode: 0o640, owner: nil, group: nil)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "second")
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o640)
            if getuid() == 0 {
                try sink.write(Array("third".utf8), to: path, mode: 0o440, owner: 1234, group: 5678)
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                #expect(attributes[.ownerAccountID] as? Int == 1234)
                #expect(attributes[.groupOwnerAccountID] as? Int == 5678)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["a.token"])
        }
    }

    @Test("a symlink planted at the target is replaced, not followed")
    func symlinkAtTarget() async throws {
        try await withTemporaryDirectory { directory in
            let victim = directory.appendingPathComponent("victim").path
            try "do not touch".write(toFile: victim, atomically: true, encoding: .utf8)
            let path = directory.appendingPathComponent("a.token").path
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: victim)
            try sink.write(Array("token".utf8), to: path, mode: 0o440, owner: nil, group: nil)
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "do not touch")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) == nil, "now a plain file")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "token")
        }
    }

    @Test(
        "a folder swapped for a symlink by another container is not written through; a symlink at the token path is not read"
    )
    func swappedFolder() async throws {
        try await withTemporaryDirectory { directory in
            let tokens = directory.appendingPathComponent("tokens").path
            let elsewhere = directory.appendingPathComponent("elsewhere").path
            try FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
            let path = tokens + "/a.token"
            try sink.write(Array("first".utf8), to: path, mode: 0o440, owner: nil, group: nil)
            // Between two writes, the folder becomes a link to a place of the other container's choosing.
            try FileManager.default.moveItem(atPath: tokens, toPath: directory.appendingPathComponent("old").path)
            try FileManager.default.createSymbolicLink(atPath: tokens, withDestinationPath: elsewhere)
            let error = #expect(throws: SidecarError.self) {
                try sink.write(Array("second".utf8), to: path, mode: 0o440, owner: nil, group: nil)
            }
            #expect(error?.code == .writeFailed)
            #expect(
                error?.message.contains("\(tokens) is a symbolic link, not a folder") == true,
                "\(String(describing: error))")
            #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty, "nothing written there")
            #expect(sink.removeStaleTemporaries(for: path) == 0)

            // A link planted at the token path is neither read (it could point at a secret) nor followed.
            let secret = directory.appendingPathComponent("secret").path
            try "the account key".write(toFile: secret, atomically: true, encoding: .utf8)
            let real = directory.appendingPathComponent("real").path
            try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: real + "/b.token", withDestinationPath: secret)
            #expect(sink.read(real + "/b.token") == nil)
            try sink.write(Array("token".utf8), to: real + "/b.token", mode: 0o440, owner: nil, group: nil)
            #expect(try String(contentsOfFile: secret, encoding: .utf8) == "the account key")
        }
    }

    @Test("a failed write names the folder and leaves no temporary file and the old file as it was")
    func failureCleansUp() async throws {
        try await withTemporaryDirectory { directory in
            let missing = directory.appendingPathComponent("no-such-folder/a.token").path
            let error = #expect(throws: SidecarError.self) {
                try sink.write(Array("x".utf8), to: missing, mode: 0o440, owner: nil, group: nil)
            }
            #expect(error?.code == .writeFailed)
            #expect(error?.message.contains(directory.appendingPathComponent("no-such-folder").path) == true)

            // A failure after the temporary file is written (the rename, over a non-empty folder):
            // the temporary file is removed and what was at the target stays.
            let path = directory.appendingPathComponent("a.token").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            try "keep".write(toFile: path + "/inside", atomically: false, encoding: .utf8)
            let renameError = #expect(throws: SidecarError.self) {
                try sink.write(Array("new".utf8), to: path, mode: 0o440, owner: nil, group: nil)
            }
            #expect(renameError?.message.contains("cannot rename") == true)
            #expect(try String(contentsOfFile: path + "/inside", encoding: .utf8) == "keep")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["a.token"])
        }
    }

    @Test("temporary files an interrupted write left are removed at start, and only those")
    func staleTemporaries() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("a.token").path
            for name in [
                ".a.token.mr-token-tmp-1", ".a.token.mr-token-tmp-zz", ".b.token.mr-token-tmp-1", "a.token", "other",
            ] {
                try "x".write(toFile: directory.appendingPathComponent(name).path, atomically: false, encoding: .utf8)
            }
            #expect(sink.removeStaleTemporaries(for: path) == 2)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == [
                    ".b.token.mr-token-tmp-1", "a.token", "other",
                ])
        }
    }

    @Test("read refuses directories and files over 1 MiB")
    func readBounds() async throws {
        try await withTemporaryDirectory { directory in
            #expect(sink.read(directory.path) == nil)
            let big = directory.appendingPathComponent("big").path
            try Data(count: (1 << 20) + 10).write(to: URL(fileURLWithPath: big))
            #expect(sink.read(big) == nil)
            #expect(sink.read(directory.appendingPathComponent("none").path) == nil)
        }
    }
}

@Suite("Sidecar in-process: shared identities and the concurrency bound")
struct SidecarInProcessTests {
    @Test("accounts with the same Entra identity share one Entra token")
    func sharedIdentity() async throws {
        let second = UUID().uuidString.lowercased()
        try await withSidecar(configure: { $0.accounts.append(.init(accountId: second, accountKeys: ["k"])) }) {
            harness in
            let ids = harness.fixture.identities
            let secretFile = harness.directory.appendingPathComponent("client-secret").path
            try ids.clientSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
            let credential =
                "type: clientSecret\n      tenantId: \(ids.tenantId)\n      clientId: \(ids.clientId)\n      secretFile: \(secretFile)\n      authorityHost: \(harness.fixture.baseURL.absoluteString)"
            try harness.writeConfig([
                TestAccount(name: "one", accountId: ids.accountId, credential: credential),
                TestAccount(name: "two", accountId: second, credential: credential),
            ])
            let child = try harness.start(["run", "--once"])
            #expect(await child.exitStatus() == 0)
            let requests = harness.fixture.emulator.requests
            #expect(requests.filter { $0.endpoint == .entra }.count == 1)
            #expect(requests.filter { $0.endpoint == .sts }.count == 2)
            expectNoSecrets(child, harness.secrets())
        }
    }

    @Test("no more exchanges in flight than refresh.maxConcurrent")
    func concurrencyBound() async throws {
        try await withSidecar { harness in
            let id = harness.fixture.identities.accountId
            let key = harness.fixture.identities.accountKey
            try harness.writeConfig(
                (0..<12).map { TestAccount(name: "account-\($0)", accountId: id, key: key) },
                refresh: "  maxConcurrent: 3")
            harness.fixture.emulator.inject(Fault(endpoint: .sts, count: 12, delayMs: 150))
            let configuration = try ConfigLoader.load(path: harness.configPath, environment: SidecarHarness.environment)
            let app = try SidecarApp.build(
                configuration: configuration, configPath: nil, environment: [:], version: "test",
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), levelBox: LogLevelBox(.info),
                clock: SystemWallClock(timer: ContinuousClock()), once: true)
            #expect(app.refresh.readTracker == nil, "nothing to track in a run that ends with its last write")
            let failures = await app.runOnce()
            #expect(failures.isEmpty)
            #expect(app.refresh.limiter.peak == 3)
            #expect(harness.fixture.emulator.requests.filter { $0.endpoint == .sts }.count == 12)
        }
    }
}
