import Foundation
import MixedRealityAuthentication
import STSEmulator
import TestSupport
import Testing

@Suite("Secret files that go wrong under the running sidecar", Reliability.heavySuite)
struct SecretFileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// What the message says about the file.
        var says: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "missing", says: "does not exist"),
        Case(name: "empty", says: "is empty"),
        Case(name: "a directory", says: "is a directory"),
        Case(name: "a dangling symlink", says: "is a symbolic link to"),
        Case(name: "unreadable", says: "permission denied"),
    ].filter { $0.name != "unreadable" || getuid() != 0 }  // root reads a mode-000 file anyway

    @Test("A clear error naming the file, the token kept, and recovery when the file returns", arguments: cases)
    func broken(_ broken: Case) async throws {
        try await withSidecar(stsLifetime: 600) { harness in
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.001\n  jitter: 0")
            let keyFile = harness.directory.appending(path: "anchors.key").path
            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#))
            let kept = try #require(harness.read(harness.output("anchors")))
            let manager = FileManager.default
            try manager.removeItem(atPath: keyFile)
            switch broken.name {
            case "empty": #expect(manager.createFile(atPath: keyFile, contents: Data()))
            case "a directory": try manager.createDirectory(atPath: keyFile, withIntermediateDirectories: false)
            case "a dangling symlink":
                try manager.createSymbolicLink(atPath: keyFile, withDestinationPath: keyFile + ".gone")
            case "unreadable":
                #expect(manager.createFile(atPath: keyFile, contents: Data(harness.fixture.identities.accountKey.utf8)))
                try manager.setAttributes([.posixPermissions: 0], ofItemAtPath: keyFile)
            default: break
            }
            #expect(await child.waitForStandardError(#""mr.result":"secret_file""#, timeout: .seconds(30)))
            let line = try #require(
                child.standardError.split(separator: "\n").last { $0.contains(#""mr.result":"secret_file""#) })
            #expect(line.contains(keyFile), "\(line)")
            #expect(line.contains(broken.says), "\(line)")
            let during = try #require(harness.read(harness.output("anchors")))
            #expect(try JWTExpiry.expiry(of: during) >= JWTExpiry.expiry(of: kept))

            // The file returns (the kubelet swaps the Secret back): the next attempt succeeds.
            try? manager.removeItem(atPath: keyFile)
            try harness.fixture.identities.accountKey.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let refreshed = child.standardError.components(separatedBy: #""msg":"token refreshed""#).count - 1
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#, count: refreshed + 1))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets(extra: [kept]))
        }
    }

    @Test("A key file replaced over and over during reads is always read whole")
    func replacedDuringReads() async throws {
        try await withSidecar(stsLifetime: 600) { harness in
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.001\n  jitter: 0")
            let keyFile = harness.directory.appending(path: "anchors.key").path
            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#))
            // Swap the file for a fresh copy of the same key by rename, as fast as possible, while
            // the sidecar refreshes every 0.6 s: it must never read half a key or none.
            let seconds = Reliability.count(ci: 4, full: 30)
            let key = harness.fixture.identities.accountKey
            let before = child.standardError.components(separatedBy: #""msg":"token refreshed""#).count - 1
            let start = ContinuousClock.now
            var swaps = 0
            while ContinuousClock.now - start < .seconds(seconds) {
                let temporary = keyFile + ".\(swaps % 2)"
                try key.write(toFile: temporary, atomically: false, encoding: .utf8)
                #expect(rename(temporary, keyFile) == 0)
                swaps += 1
                // Leave the sidecar some CPU: thousands of swaps a second are plenty.
                if swaps % 50 == 0 { try await Task.sleep(for: .milliseconds(1)) }
            }
            let refreshes = child.standardError.components(separatedBy: #""msg":"token refreshed""#).count - 1 - before
            #expect(refreshes >= 1, "no refresh in \(seconds) s of swapping")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            #expect(!child.standardError.contains(#""mr.result":"secret_file""#))
            #expect(!child.standardError.contains(#""mr.result":"authentication_failed""#))
            expectNoSecrets(child, harness.secrets())
            Reliability.report(
                "secret-file-swaps",
                ["seconds": seconds, "swaps": swaps, "refreshesDuringSwaps": refreshes, "failures": 0])
        }
    }
}
