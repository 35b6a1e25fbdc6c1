import Crypto
import Foundation
import Logging
import NIOHTTP1
import STSEmulator
import SidecarInjector
import SwiftASN1
import TestSupport
import Testing

/// A serving certificate for 127.0.0.1 issued by a throwaway CA, written as the files a
/// Kubernetes TLS Secret mounts.
struct WebhookCertificateFiles {
    let authority: TestCertificateAuthority
    let caFile: String

    init(directory: URL, name: String) throws {
        authority = try TestCertificateAuthority(name: "webhook CA \(name)")
        caFile = directory.appending(path: "\(name)-ca.pem").path
        try authority.certificatePEM.write(toFile: caFile, atomically: true, encoding: .utf8)
    }

    /// Writes a fresh certificate and key, each replaced atomically (as the kubelet swaps a Secret).
    func install(certificate: String, key: String, notValidAfter: Date = Date().addingTimeInterval(86400)) throws {
        let (leaf, privateKey) = try authority.issueServerCertificate(
            dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], notValidAfter: notValidAfter)
        try (leaf.serializeAsPEM().pemString + "\n" + authority.certificatePEM).write(
            toFile: certificate, atomically: true, encoding: .utf8)
        try privateKey.pemRepresentation.write(toFile: key, atomically: true, encoding: .utf8)
    }
}

/// The bound ports of a running webhook.
final class WebhookPorts: Sendable {
    let mutate = AsyncStream<Int>.makeStream()
    let probes = AsyncStream<Int>.makeStream()

    func record(_ listener: WebhookListener) {
        switch listener {
        case .mutate(let port): mutate.continuation.yield(port)
        case .probes(let port): probes.continuation.yield(port)
        }
    }

    static func first(_ stream: AsyncStream<Int>) async -> Int {
        for await port in stream { return port }
        return 0
    }
}

/// Runs the webhook in-process on loopback ports for the body, then shuts it down gracefully.
func withWebhook<T>(
    directory: URL, logs: LogCapture,
    body: (_ ports: WebhookPorts, _ certificate: String, _ key: String) async throws -> T
) async throws -> T {
    let certificate = directory.appending(path: "tls.crt").path
    let key = directory.appending(path: "tls.key").path
    let ports = WebhookPorts()
    let options = WebhookOptions(
        address: "127.0.0.1:0", probeAddress: "127.0.0.1:0", certificateFile: certificate, keyFile: key,
        certificateCheckInterval: .milliseconds(100), settings: AdmissionFixtures.settings)
    let app = try WebhookApp.build(
        options: options, logger: logs.logger("webhook"), clock: ContinuousClock(), onListening: ports.record)
    return try await withService(app) { try await body(ports, certificate, key) }
}

@Suite("Webhook server")
struct WebhookServerTests {
    func mutate(_ port: Int, caFile: String, body: [UInt8]) async throws -> RawResponse {
        try await rawRequest(
            .POST, "https://127.0.0.1:\(port)/mutate", caFile: caFile, headers: [("Content-Type", "application/json")],
            body: String(decoding: body, as: UTF8.self))
    }

    /// Asks until the server presents a certificate `caFile` trusts (the watcher checks every 100 ms).
    func waitForTrust(_ port: Int, caFile: String) async throws -> RawResponse {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            do {
                return try await rawRequest(.GET, "https://127.0.0.1:\(port)/healthz", caFile: caFile)
            } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    @Test("Answers AdmissionReviews over TLS, and a certificate swapped on disk is served from the next connection")
    func tlsAndSwap() async throws {
        let logs = LogCapture()
        try await withTemporaryDirectory { directory in
            let first = try WebhookCertificateFiles(directory: directory, name: "first")
            let second = try WebhookCertificateFiles(directory: directory, name: "second")
            try first.install(
                certificate: directory.appending(path: "tls.crt").path, key: directory.appending(path: "tls.key").path)
            try await withWebhook(directory: directory, logs: logs) { ports, certificate, key in
                let port = await WebhookPorts.first(ports.mutate.stream)
                let pod = try AdmissionFixtures.pod("plain")
                let response = try await mutate(port, caFile: first.caFile, body: AdmissionFixtures.review(pod))
                #expect(response.status == 200)
                #expect(response.headers.first(name: "Content-Type") == "application/json")
                let answer = try AdmissionAnswer(response.body)
                let patched = try JSONPatch.apply(try answer.operations, to: pod)
                #expect(patched == (try AdmissionFixtures.expected("plain.expected.json")))

                // A client that trusts only the second CA is refused until the swap.
                await #expect(throws: (any Error).self) {
                    _ = try await rawRequest(.GET, "https://127.0.0.1:\(port)/healthz", caFile: second.caFile)
                }
                try second.install(certificate: certificate, key: key)
                let after = try await waitForTrust(port, caFile: second.caFile)
                #expect(after.status == 200)
                await #expect(throws: (any Error).self) {
                    _ = try await rawRequest(.GET, "https://127.0.0.1:\(port)/healthz", caFile: first.caFile)
                }
                let again = try await mutate(port, caFile: second.caFile, body: AdmissionFixtures.review(pod))
                #expect(try AdmissionAnswer(again.body).allowed)

                // A broken pair (key of another certificate) is refused and the loaded one stays.
                let stray = try WebhookCertificateFiles(directory: directory, name: "stray")
                let strayCertificate = directory.appending(path: "stray.crt").path
                let strayKey = directory.appending(path: "stray.key").path
                try stray.install(certificate: strayCertificate, key: strayKey)
                try FileManager.default.removeItem(atPath: key)
                try FileManager.default.copyItem(atPath: strayKey, toPath: key)
                let probes = await WebhookPorts.first(ports.probes.stream)
                let deadline = ContinuousClock.now + .seconds(20)
                var failures = 0
                while failures == 0 && ContinuousClock.now < deadline {
                    let metrics = try await rawRequest(.GET, "http://127.0.0.1:\(probes)/metrics", caFile: nil).text
                    failures = metrics.contains(#"mr_webhook_certificate_reloads_total{result="failure"} 1"#) ? 1 : 0
                    if failures == 0 { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(failures == 1)
                #expect(logs.contains(level: .error, message: "the new certificate files cannot be used"))
                #expect(
                    try await mutate(port, caFile: second.caFile, body: AdmissionFixtures.review(pod)).status == 200)
            }
        }
    }

    @Test("Not ready until a certificate is loaded; then ready, with request metrics")
    func readiness() async throws {
        let logs = LogCapture()
        try await withTemporaryDirectory { directory in
            let files = try WebhookCertificateFiles(directory: directory, name: "late")
            try await withWebhook(directory: directory, logs: logs) { ports, certificate, key in
                let probes = await WebhookPorts.first(ports.probes.stream)
                let before = try await rawRequest(.GET, "http://127.0.0.1:\(probes)/readyz", caFile: nil)
                #expect(before.status == 503)
                #expect(try await rawRequest(.GET, "http://127.0.0.1:\(probes)/healthz", caFile: nil).status == 200)
                #expect(logs.contains(level: .error, message: "no serving certificate yet"))

                try files.install(certificate: certificate, key: key)
                let port = await WebhookPorts.first(ports.mutate.stream)
                #expect(try await rawRequest(.GET, "http://127.0.0.1:\(probes)/readyz", caFile: nil).status == 200)

                let pod = try AdmissionFixtures.pod("plain")
                _ = try await mutate(port, caFile: files.caFile, body: AdmissionFixtures.review(pod))
                _ = try await mutate(
                    port, caFile: files.caFile,
                    body: AdmissionFixtures.review(try AdmissionFixtures.pod("bad-annotation")))
                _ = try await mutate(port, caFile: files.caFile, body: Array("{}".utf8))
                let metrics = try await rawRequest(.GET, "http://127.0.0.1:\(probes)/metrics", caFile: nil).text
                #expect(metrics.contains(#"mr_webhook_requests_total{result="injected"} 1"#))
                #expect(metrics.contains(#"mr_webhook_requests_total{result="denied"} 1"#))
                #expect(metrics.contains(#"mr_webhook_requests_total{result="invalid"} 1"#))
                #expect(metrics.contains("mr_webhook_request_duration_seconds_count 3"))
                #expect(metrics.contains(#"mr_webhook_certificate_reloads_total{result="success"} 1"#))
                #expect(metrics.contains("mr_webhook_certificate_expiry_timestamp_seconds "))
                // Every described family, with its HELP line (the chart's alerts and dashboard name them).
                for name in WebhookMetrics.descriptions.keys {
                    #expect(metrics.contains("# HELP \(name) "), "\(name)")
                }
                #expect(metrics.contains(#"le="30.0""#), "buckets to the API server's longest wait")
                #expect(
                    metrics.contains(#"mr_token_sidecar_build_info{version="#)
                        && metrics.contains(#"component="webhook""#))
            }
        }
    }

    @Test("Malformed and oversized bodies get a 400 and the server keeps answering")
    func hostileBodies() async throws {
        let logs = LogCapture()
        try await withTemporaryDirectory { directory in
            let files = try WebhookCertificateFiles(directory: directory, name: "hostile")
            try files.install(
                certificate: directory.appending(path: "tls.crt").path, key: directory.appending(path: "tls.key").path)
            try await withWebhook(directory: directory, logs: logs) { ports, _, _ in
                let port = await WebhookPorts.first(ports.mutate.stream)
                var generator = SeededGenerator(state: 6)
                var bodies: [[UInt8]] = [
                    [], Array("not json".utf8), Array("{\"apiVersion\":".utf8), Array("[1,2,3]".utf8),
                    Array(repeating: UInt8(ascii: "["), count: 100_000),
                    Array(
                        #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":"pod"}}"#
                            .utf8),
                    // 4 MiB: more than the 2 MiB read.
                    Array(#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","pad":""#.utf8)
                        + Array(repeating: UInt8(ascii: "a"), count: 4 << 20) + Array(#""}"#.utf8),
                ]
                for _ in 0..<20 {
                    bodies.append(
                        (0..<Int.random(in: 1...2000, using: &generator)).map { _ in
                            UInt8.random(in: 0...255, using: &generator)
                        })
                }
                for body in bodies {
                    let response = try await mutate(port, caFile: files.caFile, body: body)
                    #expect(response.status == 400, "\(body.prefix(40))")
                    #expect(try response.json()["error"] is String)
                }
                let pod = try AdmissionFixtures.pod("plain")
                #expect(
                    try AdmissionAnswer(
                        try await mutate(port, caFile: files.caFile, body: AdmissionFixtures.review(pod)).body
                    ).allowed)
            }
        }
    }

    @Test("TLS 1.3, or TLS 1.2 with ECDHE and an AEAD cipher; CBC suites and TLS 1.1 are refused")
    func tlsSuites() async throws {
        let logs = LogCapture()
        try await withTemporaryDirectory { directory in
            let files = try WebhookCertificateFiles(directory: directory, name: "suites")
            try files.install(
                certificate: directory.appending(path: "tls.crt").path, key: directory.appending(path: "tls.key").path)
            try await withWebhook(directory: directory, logs: logs) { ports, _, _ in
                let port = await WebhookPorts.first(ports.mutate.stream)
                let probe = #"""
                    import json, socket, ssl, sys
                    port, ca = int(sys.argv[1]), sys.argv[2]
                    def attempt(minimum, maximum, ciphers=None):
                        context = ssl.create_default_context(cafile=ca)
                        context.minimum_version, context.maximum_version = minimum, maximum
                        if ciphers: context.set_ciphers(ciphers)
                        try:
                            with context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1") as s:
                                return s.version() + " " + s.cipher()[0]
                        except (ssl.SSLError, OSError) as error:
                            return "refused"
                    V = ssl.TLSVersion
                    print(json.dumps({
                        "tls13": attempt(V.TLSv1_3, V.TLSv1_3),
                        "tls12gcm": attempt(V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256"),
                        "tls12cbc": attempt(V.TLSv1_2, V.TLSv1_2, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"),
                        "tls11": attempt(V.TLSv1_1, V.TLSv1_1, "ALL:@SECLEVEL=0"),
                    }))
                    """#
                let child = try ChildProcess.startSystem("/usr/bin/python3", ["-c", probe, "\(port)", files.caFile])
                #expect(await child.exitStatus() == 0, "\(child.standardError)")
                let line = try #require(child.standardOutput.split(separator: "\n").last)
                let results = try #require(
                    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
                #expect(results["tls13"]?.hasPrefix("TLSv1.3") == true, "\(results)")
                #expect(results["tls12gcm"] == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256", "\(results)")
                #expect(results["tls12cbc"] == "refused", "\(results)")
                #expect(results["tls11"] == "refused", "\(results)")
            }
        }
    }
}
