import Foundation
import MixedRealityAuthentication
import STSEmulator
import TestSupport
import Testing

@Suite("mr-token-sidecar token, --config-env, the demo and ConfigMap-style reload")
struct CommandTests {
    @Test("token prints one token on standard output and writes nothing")
    func tokenCommand() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let child = try harness.start(["token", "--account", "anchors"])
            #expect(await child.exitStatus() == 0)
            let token = child.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try JWTExpiry.claims(of: token).accountId == harness.fixture.identities.accountId)
            #expect(harness.read(harness.output("anchors")) == nil)
            expectNoSecret([token], in: child.standardError, "standard error")
            let unknown = try harness.start(["token", "--account", "nobody"])
            #expect(await unknown.exitStatus() == 2)
            #expect(unknown.standardError.contains("no account named nobody"))
        }
    }

    @Test("the demo writes both tokens, serves its probes and exits 0 when stopped")
    func demo() async throws {
        try await withTemporaryDirectory { directory in
            let dir = directory.appendingPathComponent("demo").path
            let child = try ChildProcess.start(
                executable: "mr-token-sidecar-demo", arguments: ["--dir", dir, "--port", "0", "--duration", "4"],
                environment: [:])
            #expect(await child.waitForStandardError("mr.account=rendering"))
            #expect(await child.exitStatus() == 0)
            #expect(child.standardOutput.contains("mr-token-sidecar demo: STS emulator at https://127.0.0.1:"))
            let token = try String(contentsOfFile: "\(dir)/anchors.token", encoding: .utf8)
            #expect(try JWTExpiry.expiry(of: token) > Date())
            let json = try String(contentsOfFile: "\(dir)/rendering.json", encoding: .utf8)
            #expect(json.contains("\"expiresOnTimestamp\""))
            let validate = try ChildProcess.start(
                executable: "mr-token-sidecar",
                arguments: ["validate", "--config", "\(dir)/config.yaml", "--allowed-hosts", "127.0.0.1"],
                environment: [:])
            #expect(await validate.exitStatus() == 0)
            let secrets = try ["anchors.key", "client-secret"].map {
                try String(contentsOfFile: "\(dir)/.secrets/\($0)", encoding: .utf8)
            }
            let logs = child.standardOutput + child.standardError
            #expect(secrets.allSatisfy { !logs.contains($0) })
            expectNoSecret([token], in: logs, "the logs")
        }
    }

    @Test(
        "ConfigMap updates (the ..data symlink swapped, the old folder removed) are seen and applied, one after another"
    )
    func configMapSwap() async throws {
        try await withSidecar { harness in
            // Lay the config out as the kubelet does: config.yaml -> ..data/config.yaml, ..data -> ..v1
            try harness.writeConfig([harness.defaultAccount])
            let root = harness.directory.appendingPathComponent("configmap")
            let v1 = root.appendingPathComponent("..v1")
            try FileManager.default.createDirectory(at: v1, withIntermediateDirectories: true)
            try FileManager.default.moveItem(
                atPath: harness.configPath, toPath: v1.appendingPathComponent("config.yaml").path)
            try FileManager.default.createSymbolicLink(
                atPath: root.appendingPathComponent("..data").path, withDestinationPath: "..v1")
            let linked = root.appendingPathComponent("config.yaml").path
            try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: "..data/config.yaml")
            let child = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["run", "--config", linked],
                environment: SidecarHarness.environment)
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))

            var renamed = harness.defaultAccount
            renamed.name = "swapped"
            renamed.keyName = "anchors"  // the same key file: no new way out for the secret
            try harness.writeConfig([renamed])
            let v2 = root.appendingPathComponent("..v2")
            try FileManager.default.createDirectory(at: v2, withIntermediateDirectories: true)
            try FileManager.default.moveItem(
                atPath: harness.configPath, toPath: v2.appendingPathComponent("config.yaml").path)
            let temporaryLink = root.appendingPathComponent("..data_tmp").path
            try FileManager.default.createSymbolicLink(atPath: temporaryLink, withDestinationPath: "..v2")
            #expect(rename(temporaryLink, root.appendingPathComponent("..data").path) == 0)
            #expect(await child.waitForStandardError("\"mr.account\":\"swapped\""))
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\"", count: 2))

            // The kubelet removes the old folder; the next update is seen as well (the watch
            // followed the link, with no periodic check to fall back on).
            try FileManager.default.removeItem(at: v1)
            renamed.name = "again"
            try harness.writeConfig([renamed])
            let v3 = root.appendingPathComponent("..v3")
            try FileManager.default.createDirectory(at: v3, withIntermediateDirectories: true)
            try FileManager.default.moveItem(
                atPath: harness.configPath, toPath: v3.appendingPathComponent("config.yaml").path)
            try FileManager.default.createSymbolicLink(atPath: temporaryLink, withDestinationPath: "..v3")
            #expect(rename(temporaryLink, root.appendingPathComponent("..data").path) == 0)
            #expect(await child.waitForStandardError("\"mr.account\":\"again\""))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }

    @Test("run --config-env reads the YAML from the environment, and the address variable moves the probes")
    func configFromEnvironment() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let yaml = try String(contentsOfFile: harness.configPath, encoding: .utf8)
            let child = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["run", "--config-env", "MR_TOKEN_SIDECAR_CONFIG"],
                environment: SidecarHarness.environment.merging([
                    "MR_TOKEN_SIDECAR_CONFIG": yaml, "MR_TOKEN_SIDECAR_SERVER_ADDRESS": "127.0.0.1:0",
                ]) { $1 })
            let port = try #require(await harness.probePort(child))
            #expect(child.standardError.contains(#""mr.config":"$MR_TOKEN_SIDECAR_CONFIG""#))
            try await waitForReady(port)
            #expect(try JWTExpiry.expiry(of: try #require(harness.read(harness.output("anchors")))) > Date())
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets())

            let missing = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["validate", "--config-env", "NOT_SET"], environment: [:])
            #expect(await missing.exitStatus() == 2)
            #expect(missing.standardError.contains("NOT_SET"))
            let badAddress = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["validate", "--config-env", "C"],
                environment: SidecarHarness.environment.merging([
                    "C": yaml, "MR_TOKEN_SIDECAR_SERVER_ADDRESS": "everywhere",
                ]) { $1 })
            #expect(await badAddress.exitStatus() == 2)
            #expect(badAddress.standardError.contains("MR_TOKEN_SIDECAR_SERVER_ADDRESS"))
        }
    }
}
