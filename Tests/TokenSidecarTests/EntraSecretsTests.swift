import Foundation
import MixedRealityAuthentication
import STSEmulator
import TestSupport
import Testing

@Suite("Entra ID credentials in the running sidecar: tokens written, no secret in its output")
struct EntraSecretsTests {
    @Test(
        "workload identity, a client certificate and a client secret each get a token; at trace level neither the projected token, the assertions, the private key, the secret nor any token reaches the output"
    )
    func entraCredentialsLeaveNoSecret() async throws {
        let certificate = try TestCertificate.rsa()
        let subject = "system:serviceaccount:viewer:viewer"
        try await withSidecar(configure: {
            $0.applications[0].certificatesPEM = [try! certificate.pem]
            $0.applications[0].federatedCredentials = [.init(subject: subject)]
        }) { harness in
            let fixture = harness.fixture
            let identities = fixture.identities
            let projected = try fixture.emulator.mintServiceAccountToken(subject: subject)
            let tokenFile = harness.directory.appendingPathComponent("sa-token").path
            let certificateFile = harness.directory.appendingPathComponent("client.pem").path
            let secretFile = harness.directory.appendingPathComponent("client-secret").path
            try projected.write(toFile: tokenFile, atomically: true, encoding: .utf8)
            try certificate.combinedPEM.write(toFile: certificateFile, atomically: true, encoding: .utf8)
            try identities.clientSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
            let common = [
                "tenantId: \(identities.tenantId)", "clientId: \(identities.clientId)",
                "authorityHost: \(fixture.baseURL.absoluteString)",
            ]
            func credential(_ lines: [String]) -> String { (lines + common).joined(separator: "\n      ") }
            try harness.writeConfig(
                [
                    TestAccount(
                        name: "federated", accountId: identities.accountId,
                        credential: credential(["type: workloadIdentity", "tokenFile: \(tokenFile)"])),
                    TestAccount(
                        name: "certificate", accountId: identities.accountId,
                        credential: credential(["type: clientCertificate", "certificateFile: \(certificateFile)"])),
                    TestAccount(
                        name: "secret", accountId: identities.accountId,
                        credential: credential(["type: clientSecret", "secretFile: \(secretFile)"])),
                ], logLevel: "trace")
            let child = try harness.start(["run", "--once"])
            #expect(await child.exitStatus() == 0, "\(child.standardError.suffix(2000))")
            for name in ["federated", "certificate", "secret"] {
                let token = try #require(harness.read(harness.output(name)), "\(name) has no token")
                #expect(try JWTExpiry.claims(of: token).accountId == identities.accountId)
            }

            // Every secret that crossed the wire, as the emulator received it.
            let requests = fixture.emulator.requests
            let assertions = requests.compactMap { $0.form["client_assertion"] }
            let bearers = requests.flatMap { request in
                request.headers.filter { $0.name.lowercased() == "authorization" }.map {
                    String($0.value.dropFirst("Bearer ".count))
                }
            }
            #expect(assertions.contains(projected), "the projected token was the federated assertion")
            #expect(assertions.count >= 2, "a certificate assertion was sent too")
            #expect(requests.contains { $0.form["client_secret"] == identities.clientSecret })
            #expect(bearers.count >= 3, "the STS saw the three Entra tokens")
            // The private key's base64 lines, each long enough to be unmistakable.
            let combined = try certificate.combinedPEM
            let keyStart = try #require(combined.range(of: "PRIVATE KEY-----"))
            let keyLines = combined[keyStart.upperBound...].split(separator: "\n").map(String.init).filter {
                $0.count >= 40 && !$0.hasPrefix("-----")
            }
            #expect(!keyLines.isEmpty)
            let secrets = harness.secrets(extra: [projected] + assertions + bearers + keyLines)
            #expect(child.standardError.contains(#""msg":"Request""#), "request and response lines were logged")
            expectNoSecrets(child, secrets)
        }
    }
}
