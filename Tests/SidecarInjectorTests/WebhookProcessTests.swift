import AzureCore
import Foundation
import MixedRealityAuthentication
import NIOHTTP1
import SidecarConfig
import SidecarInjector
import TestSupport
import Testing

/// The webhook binary (`mr-token-sidecar webhook` on loopback ports, with `arguments`) serving a
/// fresh certificate written into `directory`; its `/mutate` port.
func startWebhookProcess(
    in directory: URL, name: String, arguments: [String] = []
) async throws -> (
    ChildProcess, Int, WebhookCertificateFiles
) {
    let files = try WebhookCertificateFiles(directory: directory, name: name)
    let certificate = directory.appending(path: "tls.crt").path
    let key = directory.appending(path: "tls.key").path
    try files.install(certificate: certificate, key: key)
    let webhook = try ChildProcess.start(
        executable: "mr-token-sidecar",
        arguments: [
            "webhook", "--address", "127.0.0.1:0", "--probe-address", "127.0.0.1:0", "--tls-cert-file",
            certificate, "--tls-key-file", key, "--sidecar-image", "registry.example/mr-token-sidecar:0.1.0",
        ] + arguments,
        environment: [:])
    let port = try #require(await webhook.listeningPort("webhook listening"))
    return (webhook, port, files)
}

@Suite("mr-token-sidecar webhook as a child process")
struct WebhookProcessTests {
    @Test("webhook serves /mutate over TLS from the real binary and exits 0 on SIGTERM")
    func webhookBinary() async throws {
        try await withTemporaryDirectory { directory in
            let (child, port, files) = try await startWebhookProcess(
                in: directory, name: "binary",
                arguments: [
                    "--allowed-credentials",
                    CredentialConfiguration.Kind.allCases.map(\.rawValue).joined(separator: ","),
                    "--allow-image-override",
                ])
            let pod = try AdmissionFixtures.pod("plain")
            let response = try await rawRequest(
                .POST, "https://127.0.0.1:\(port)/mutate", caFile: files.caFile,
                body: String(decoding: AdmissionFixtures.review(pod), as: UTF8.self))
            let patched = try JSONPatch.apply(try AdmissionAnswer(response.body).operations, to: pod)
            #expect(patched == (try AdmissionFixtures.expected("plain.expected.json")))
            #expect(await child.waitForStandardError(#""mr.result":"injected""#))

            // The chart's helm test: webhook-check answers 0 against it, 1 without its CA.
            let check = try ChildProcess.start(
                executable: "mr-token-sidecar",
                arguments: ["webhook-check", "--url", "https://127.0.0.1:\(port)/mutate", "--ca-file", files.caFile],
                environment: [:])
            #expect(await check.exitStatus() == 0, "\(check.standardError)")
            #expect(check.standardOutput.contains("answered an AdmissionReview"))
            let untrusted = try ChildProcess.start(
                executable: "mr-token-sidecar",
                arguments: ["webhook-check", "--url", "https://127.0.0.1:\(port)/mutate"],
                environment: [:])
            #expect(await untrusted.exitStatus() == 1)
            #expect(untrusted.standardError.contains("TLS with"), "\(untrusted.standardError)")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }

    @Test("webhook refuses bad options with exit 2 and names them")
    func webhookOptions() async throws {
        let cases: [([String], String)] = [
            ([], "--sidecar-image"),
            (
                ["--sidecar-image", "x", "--sidecar-resources", "{\"limits\":{\"memory\":\"lots\"}}"],
                "--sidecar-resources"
            ),
            (["--sidecar-image", "x", "--certificate-check-interval", "5"], "--certificate-check-interval"),
            (["--sidecar-image", "x", "--sidecar-image-pull-policy", "Sometimes"], "--sidecar-image-pull-policy"),
            (["--sidecar-image", "x", "--sidecar-env", "{}"], "--sidecar-env must be a JSON list"),
            (
                ["--sidecar-image", "x", "--sidecar-env", #"[{"name":"MR_TOKEN_SIDECAR_ALLOWED_HOSTS","value":"x"}]"#],
                "is set by the webhook's own flags"
            ),
            (["--sidecar-image", "x", "--sidecar-log-level", "loud"], "--sidecar-log-level"),
            (["--sidecar-image", "x", "--shutdown-delay", "5m"], "--shutdown-delay"),
        ]
        for (arguments, named) in cases {
            let child = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["webhook"] + arguments, environment: [:])
            #expect(await child.exitStatus() == 2, "\(arguments)")
            #expect(child.standardError.contains(named), "\(child.standardError)")
        }
    }

    @Test("after SIGTERM, /readyz fails at once while /mutate still answers for the shutdown delay, then exit 0")
    func shutdownDelay() async throws {
        try await withTemporaryDirectory { directory in
            let (child, mutate, files) = try await startWebhookProcess(
                in: directory, name: "drain", arguments: ["--shutdown-delay", "3s"])
            let probes = try #require(await child.listeningPort("probe server listening"))
            #expect(try await rawRequest(.GET, "http://127.0.0.1:\(probes)/readyz", caFile: nil).status == 200)
            let stopping = ContinuousClock.now
            child.signal(SIGTERM)
            #expect(await child.waitForStandardError("shutting down"))
            #expect(try await rawRequest(.GET, "http://127.0.0.1:\(probes)/readyz", caFile: nil).status == 503)
            let review = try await rawRequest(
                .POST, "https://127.0.0.1:\(mutate)/mutate", caFile: files.caFile,
                body: String(decoding: AdmissionFixtures.review(try AdmissionFixtures.pod("plain")), as: UTF8.self))
            #expect(review.status == 200, "still answering while the endpoints drop the pod")
            #expect(await child.exitStatus() == 0)
            #expect(ContinuousClock.now - stopping >= .seconds(3))
        }
    }
}
