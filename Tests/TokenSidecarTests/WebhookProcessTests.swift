import Foundation
import MixedRealityAuthentication
import NIOHTTP1
import TestSupport
import Testing

@Suite("mr-token-sidecar webhook, and the sidecar as the injector configures it")
struct WebhookProcessTests {
    @Test("webhook serves /mutate over TLS from the real binary and exits 0 on SIGTERM")
    func webhookBinary() async throws {
        try await withTemporaryDirectory { directory in
            let files = try WebhookCertificateFiles(directory: directory, name: "binary")
            let certificate = directory.appending(path: "tls.crt").path
            let key = directory.appending(path: "tls.key").path
            try files.install(certificate: certificate, key: key)
            let child = try ChildProcess.start(
                executable: "mr-token-sidecar",
                arguments: [
                    "webhook", "--address", "127.0.0.1:0", "--probe-address", "127.0.0.1:0", "--tls-cert-file", certificate,
                    "--tls-key-file", key, "--sidecar-image", "registry.example/mr-token-sidecar:0.1.0",
                ],
                environment: [:])
            #expect(await child.waitForStandardError("webhook listening"))
            let line = try #require(child.standardError.split(separator: "\n").first { $0.contains("webhook listening") })
            let range = try #require(line.range(of: #""address":"127.0.0.1:"#))
            let port = try #require(Int(line[range.upperBound...].prefix(while: \.isNumber)))
            let pod = try AdmissionFixtures.pod("plain")
            let response = try await rawRequest(
                .POST, "https://127.0.0.1:\(port)/mutate", caFile: files.caFile, body: String(decoding: AdmissionFixtures.review(pod), as: UTF8.self))
            let patched = try JSONPatch.apply(try AdmissionAnswer(response.body).operations, to: pod)
            #expect(patched == (try AdmissionFixtures.expected("plain.expected.json")))
            #expect(await child.waitForStandardError(#""result":"injected""#))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }

    @Test("webhook refuses bad options with exit 2 and names them")
    func webhookOptions() async throws {
        let cases: [([String], String)] = [
            ([], "--sidecar-image"),
            (["--sidecar-image", "x", "--sidecar-resources", "{\"limits\":{\"memory\":\"lots\"}}"], "--sidecar-resources"),
            (["--sidecar-image", "x", "--certificate-check-interval", "5"], "--certificate-check-interval"),
            (["--sidecar-image", "x", "--sidecar-image-pull-policy", "Sometimes"], "--sidecar-image-pull-policy"),
        ]
        for (arguments, named) in cases {
            let child = try ChildProcess.start(executable: "mr-token-sidecar", arguments: ["webhook"] + arguments, environment: [:])
            #expect(await child.exitStatus() == 2, "\(arguments)")
            #expect(child.standardError.contains(named), "\(child.standardError)")
        }
    }

    @Test("run --config-env reads the YAML from the environment, and the address variable moves the probes")
    func configFromEnvironment() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let yaml = try String(contentsOfFile: harness.configPath, encoding: .utf8)
            let child = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["run", "--config-env", "MR_TOKEN_SIDECAR_CONFIG"],
                environment: ["MR_TOKEN_SIDECAR_CONFIG": yaml, "MR_TOKEN_SIDECAR_SERVER_ADDRESS": "127.0.0.1:0"])
            let port = try #require(await harness.probePort(child))
            #expect(child.standardError.contains(#""config":"$MR_TOKEN_SIDECAR_CONFIG""#))
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
                environment: ["C": yaml, "MR_TOKEN_SIDECAR_SERVER_ADDRESS": "everywhere"])
            #expect(await badAddress.exitStatus() == 2)
            #expect(badAddress.standardError.contains("MR_TOKEN_SIDECAR_SERVER_ADDRESS"))
        }
    }
}
