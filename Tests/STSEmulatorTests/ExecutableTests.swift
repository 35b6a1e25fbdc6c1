import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// Runs the built `mr-sts-emulator` as a child process.
@Suite("mr-sts-emulator executable")
struct ExecutableTests {
    @Test("serves on port 0, prints its URL, writes the CA, and exits 0 on SIGTERM")
    func serveAndTerminate() async throws {
        try await withTemporaryDirectory { directory in
            let caPath = directory.appendingPathComponent("ca.pem").path
            let identities = TestIdentities()
            let child = try ChildProcess.start(
                executable: "mr-sts-emulator",
                arguments: [
                    "--port", "0", "--ca-out", caPath, "--account", "\(identities.accountId):\(identities.accountKey)",
                    "--sts-token-lifetime", "120",
                ])
            let line = try #require(await child.firstStdoutLine())
            let ready = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let url = try #require(ready["url"] as? String)
            #expect(url.hasPrefix("https://127.0.0.1:"))
            #expect((ready["port"] as? Int ?? 0) > 0)
            let response = try await rawRequest(
                .GET, "\(url)/Accounts/\(identities.accountId)/token?api-version=2019-02-28-preview", caFile: caPath,
                headers: [
                    ("Accept", "application/json"), ("X-MRC-CV", "BBBBBBBBBBBBBBBBBBBBBB"),
                    ("Authorization", "Bearer \(identities.accountId):\(identities.accountKey)"),
                ])
            #expect(response.status == 200)
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecret([identities.accountKey], in: child.standardError, "the emulator's standard error")
        }
    }

    @Test("--help documents the endpoints, admin API and configuration; a bad flag is a usage error")
    func help() async throws {
        let help = try ChildProcess.start(executable: "mr-sts-emulator", arguments: ["--help"])
        #expect(await help.exitStatus() == 0)
        for text in ["/admin/faults", "/metadata/identity/oauth2/token", "--ca-out", "stsTokenLifetimeSeconds"] {
            #expect(help.standardOutput.contains(text), "\(text)")
        }
        let bad = try ChildProcess.start(executable: "mr-sts-emulator", arguments: ["--account", "no-colon"])
        #expect(await bad.exitStatus() == 64)
        #expect(bad.standardError.contains("--account"))
    }
}
