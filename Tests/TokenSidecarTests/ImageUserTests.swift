import Foundation
import NIOHTTP1
import STSEmulator
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The file-system features that depend on who runs the sidecar, run as the image runs it: uid and
/// gid 65532 (through `setpriv` when the tests run as root, as in CI; as the current non-root user
/// otherwise), in folders it cannot write, as Kubernetes mounts them: a Secret's files, the
/// bind-mounted termination message, an `emptyDir` writable through the pod's `fsGroup`.
@Suite("As the image runs: uid 65532 in root-owned folders")
struct ImageUserTests {
    /// The harness's config and key files readable by the image's user, its output folder an
    /// `emptyDir` with `fsGroup`.
    func prepare(_ harness: SidecarHarness, _ accounts: [TestAccount], extra: String = "") throws {
        try harness.writeConfig(accounts, extra: extra)
        try ChildProcess.groupWritableFolder(harness.directory.appending(path: "out"))
    }

    func start(_ harness: SidecarHarness, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess.startAsImageUser(
            executable: "mr-token-sidecar", arguments: arguments + ["--config", harness.configPath],
            environment: SidecarHarness.environment)
    }

    @Test(
        "a failed start leaves its summary in a termination-message file written in place, its folder not writable: no temporary file, no rename"
    )
    func terminationMessage() async throws {
        try await withSidecar { harness in
            var account = harness.defaultAccount
            account.key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc0NA=="
            try prepare(harness, [account])
            let folder = harness.directory.appending(path: "dev")
            try ChildProcess.rootOwnedFolder(folder, files: ["termination-log": ("", true)])
            defer { chmod(folder.path, 0o755) }
            let path = folder.appending(path: "termination-log").path
            let failed = try start(harness, ["run", "--once", "--termination-message-path", path])
            #expect(await failed.exitStatus() == 1, "\(failed.standardError.suffix(600))")
            let message = try String(contentsOfFile: path, encoding: .utf8)
            #expect(message.hasPrefix("mr-token-sidecar: 1 account(s) without a token"), "\(message)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["termination-log"])
            // A config that does not load: its problems, written over the previous summary.
            try FileManager.default.removeItem(atPath: harness.configPath)
            try harness.writeConfig([harness.defaultAccount], extra: "colour: blue")
            let broken = try start(harness, ["run", "--termination-message-path", path])
            #expect(await broken.exitStatus() == 2)
            let problems = try String(contentsOfFile: path, encoding: .utf8)
            #expect(
                problems.contains("colour: unknown key") && !problems.contains("account(s) without a token"),
                "\(problems)")
        }
    }

    @Test(
        "the token folder through fsGroup, the pid file in a root-owned folder, and the app's reads: each works as uid 65532"
    )
    func tokenFolderPidFileAndReads() async throws {
        try await withSidecar { harness in
            let target = try ChildProcess.signalTarget(seconds: 60, asImageUser: true)
            #expect(await target.firstStdoutLine() == "ready")
            let shared = harness.directory.appending(path: "shared")
            try ChildProcess.rootOwnedFolder(shared, files: ["app.pid": ("\(target.processIdentifier)\n", false)])
            defer { chmod(shared.path, 0o755) }
            var account = harness.defaultAccount
            account.extra = """
                    notify:
                      signal: {pidFile: \(shared.appending(path: "app.pid").path), name: SIGUSR1}
                """
            try prepare(harness, [account])
            let sidecar = try start(harness, ["run"])
            defer { sidecar.signal(SIGTERM) }
            #expect(
                await sidecar.waitForStandardError(#""msg":"token refreshed""#), "\(sidecar.standardError.suffix(600))")
            let path = harness.output("anchors")
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect(attributes[.posixPermissions] as? Int == 0o440)
            if ChildProcess.isRoot {
                #expect(
                    attributes[.ownerAccountID] as? Int == Int(ChildProcess.imageUser), "written by the image's user")
                #expect(
                    attributes[.groupOwnerAccountID] as? Int == Int(ChildProcess.imageUser),
                    "the folder's group (fsGroup)")
            }
            #expect(await target.exitStatus() == 0, "the application got its signal")
            #expect(target.standardOutput.contains("got SIGUSR1"))
            // The application reads the token: the sidecar, watching as uid 65532, sees it.
            let port = try #require(await harness.probePort(sidecar))
            _ = try String(contentsOfFile: path, encoding: .utf8)
            #expect(await sidecar.waitForStandardError("the application read the new token"))
            let status = try await rawRequest(.GET, "http://127.0.0.1:\(port)/status", caFile: nil)
            #expect(status.text.contains(#""readSinceWrite":true"#), "\(status.text)")
            sidecar.signal(SIGTERM)
            #expect(await sidecar.exitStatus() == 0)
            expectNoSecrets(sidecar, harness.secrets())
        }
    }
}
