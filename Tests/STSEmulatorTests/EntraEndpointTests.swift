import AzureCore
import Foundation
import NIOHTTP1
import TestSupport
import Testing

@testable import STSEmulator

@Suite("Emulator: Entra ID token endpoint")
struct EntraEndpointTests {
    @Test("client secret: a token for the STS scope that the STS accepts")
    func clientSecret() async throws {
        try await withEmulator { fixture in
            let response = try await fixture.entra(
                fixture.clientCredentials([("client_secret", fixture.identities.clientSecret)]))
            #expect(response.status == 200)
            let body = try response.json()
            #expect(body["token_type"] as? String == "Bearer")
            #expect(body["expires_in"] as? Int == 3600)
            let token = try #require(body["access_token"] as? String)
            let jwt = try ParsedJWT(token)
            #expect(jwt.claims["appid"]?.string == fixture.identities.clientId)
            #expect(jwt.claims["tid"]?.string == fixture.identities.tenantId)
            #expect(try await fixture.sts(authorization: "Bearer \(token)").status == 200)
            let recorded = try #require(fixture.emulator.requests.first)
            #expect(recorded.redacted.form["client_secret"] == "<redacted>")
        }
    }

    @Test(
        "refusals use Entra's error shape and AADSTS codes",
        arguments: [
            ("wrong secret", 401, "invalid_client", 7_000_215),
            ("unknown tenant", 400, "invalid_tenant", 90002),
            ("unknown client", 400, "unauthorized_client", 700_016),
            ("scope without /.default", 400, "invalid_scope", 1_002_012),
            ("wrong resource", 400, "invalid_resource", 500_011),
            ("no credential", 401, "invalid_client", 7_000_218),
            ("missing grant_type", 400, "invalid_request", 900_144),
            ("malformed assertion", 401, "invalid_client", 50027),
        ])
    func refusals(_ kind: String, status: Int, error: String, code: Int) async throws {
        try await withEmulator { fixture in
            let secret = [("client_secret", fixture.identities.clientSecret)]
            let response: RawResponse
            switch kind {
            case "wrong secret":
                response = try await fixture.entra(fixture.clientCredentials([("client_secret", "nope")]))
            case "unknown tenant":
                response = try await fixture.entra(fixture.clientCredentials(secret), tenant: "other")
            case "unknown client":
                response = try await fixture.entra(
                    [
                        ("client_id", "someone"), ("grant_type", "client_credentials"),
                        ("scope", "https://sts.mixedreality.azure.com/.default"),
                    ] + secret)
            case "scope without /.default":
                response = try await fixture.entra(
                    fixture.clientCredentials(secret, scope: "https://sts.mixedreality.azure.com/"))
            case "wrong resource":
                response = try await fixture.entra(
                    fixture.clientCredentials(secret, scope: "https://vault.azure.net/.default"))
            case "no credential": response = try await fixture.entra(fixture.clientCredentials([]))
            case "missing grant_type":
                response = try await fixture.entra([
                    ("client_id", fixture.identities.clientId), ("scope", "x/.default"),
                ])
            default: response = try await fixture.entra(fixture.clientCredentials(fixture.assertionFields("not-a-jwt")))
            }
            #expect(response.status == status)
            let body = try response.json()
            #expect(body["error"] as? String == error)
            #expect(try aadsts(response) == code)
            let description = try #require(body["error_description"] as? String)
            #expect(description.hasPrefix("AADSTS\(code): "))
            #expect(description.contains("Trace ID: "))
            #expect(body["correlation_id"] as? String == "corr-123")
            #expect(body["trace_id"] as? String != nil && body["timestamp"] as? String != nil)
            expectNoSecret([fixture.identities.clientSecret], in: response.text, "the answer")
        }
    }

    @Test(
        "workload identity: a projected service-account token is exchanged, a bad one refused",
        arguments: [
            ("good", 200, nil),
            ("expired", 401, 700_024),
            ("wrong subject", 400, 700_213),
            ("wrong audience", 400, 700_212),
            ("wrong issuer", 400, 700_211),
            ("tampered", 401, 50013),
        ] as [(String, Int, Int?)])
    func federated(_ kind: String, status: Int, code: Int?) async throws {
        let subject = "system:serviceaccount:default:workload"
        try await withEmulator(configure: { $0.applications[0].federatedCredentials = [.init(subject: subject)] }) {
            fixture in
            let emulator = fixture.emulator
            var assertion: String
            switch kind {
            case "expired": assertion = try emulator.mintServiceAccountToken(subject: subject, lifetime: -600)
            case "wrong subject": assertion = try emulator.mintServiceAccountToken(subject: "system:serviceaccount:x:y")
            case "wrong audience":
                assertion = try emulator.mintServiceAccountToken(subject: subject, audience: "api://other")
            case "wrong issuer":
                assertion = try emulator.mintServiceAccountToken(subject: subject, issuer: "https://elsewhere")
            default: assertion = try emulator.mintServiceAccountToken(subject: subject)
            }
            if kind == "tampered" {
                var parts = assertion.split(separator: ".").map(String.init)
                let claims = try JSONDecoder().decode([String: JSONValue].self, from: Data(Base64URL.decode(parts[1])!))
                var forged = claims
                forged["sub"] = .string(subject + "-admin")
                parts[1] = Base64URL.encode(JSON.encode(forged))
                assertion = parts.joined(separator: ".")
            }
            let response = try await fixture.entra(fixture.clientCredentials(fixture.assertionFields(assertion)))
            #expect(response.status == status, "\(response.text)")
            #expect(try aadsts(response) == code)
        }
    }

    @Test(
        "certificate assertions: PS256 with x5t#S256, RS256 with x5t and ES256 are verified against the registration",
        arguments: ["PS256", "RS256", "ES256"])
    func certificateAccepted(alg: String) async throws {
        let certificate = alg == "ES256" ? try TestCertificate.p256() : try TestCertificate.rsa()
        let pem = try certificate.pem
        try await withEmulator(configure: { $0.applications[0].certificatesPEM = [pem] }) { fixture in
            let assertion = try certificate.assertion(
                audience: fixture.tokenURL, clientId: fixture.identities.clientId, alg: alg,
                thumbprint: alg == "RS256" ? "x5t" : "x5t#S256")
            let response = try await fixture.entra(fixture.clientCredentials(fixture.assertionFields(assertion)))
            #expect(response.status == 200, "\(response.text)")
            let replay = try await fixture.entra(fixture.clientCredentials(fixture.assertionFields(assertion)))
            #expect(replay.status == 401)
            #expect(try aadsts(replay) == 50013)
        }
    }

    @Test(
        "certificate assertions that must be refused",
        arguments: [
            ("unregistered certificate", 700_027),
            ("signed by another key", 700_027),
            ("wrong audience", 50013),
            ("expired", 700_024),
            ("wrong issuer", 700_021),
        ])
    func certificateRefused(_ kind: String, code: Int) async throws {
        let registered = try TestCertificate.rsa()
        let other = try TestCertificate.rsa()
        let pem = try registered.pem
        try await withEmulator(configure: { $0.applications[0].certificatesPEM = [pem] }) { fixture in
            let clientId = fixture.identities.clientId
            let assertion: String =
                switch kind {
                case "unregistered certificate": try other.assertion(audience: fixture.tokenURL, clientId: clientId)
                case "signed by another key":
                    try registered.assertion(audience: fixture.tokenURL, clientId: clientId, signWith: other)
                case "wrong audience":
                    try registered.assertion(
                        audience: "https://login.microsoftonline.com/x/oauth2/v2.0/token", clientId: clientId)
                case "expired": try registered.assertion(audience: fixture.tokenURL, clientId: clientId, lifetime: -900)
                default: try registered.assertion(audience: fixture.tokenURL, clientId: "someone-else")
                }
            let response = try await fixture.entra(fixture.clientCredentials(fixture.assertionFields(assertion)))
            #expect(response.status == 401, "\(response.text)")
            #expect(try aadsts(response) == code)
        }
    }

    @Test("an account restricted to other identities refuses this one's Entra token")
    func allowedClientIds() async throws {
        try await withEmulator(configure: { $0.accounts[0].allowedClientIds = [UUID().uuidString] }) { fixture in
            let response = try await fixture.entra(
                fixture.clientCredentials([("client_secret", fixture.identities.clientSecret)]))
            let token = try #require(try response.json()["access_token"] as? String)
            let sts = try await fixture.sts(authorization: "Bearer \(token)")
            #expect(sts.status == 401)
            #expect(
                sts.headers.first(name: "WWW-Authenticate") == "Invalid token: the identity has no role on this account"
            )
        }
    }
}

@Suite("Emulator: managed identity endpoints")
struct ManagedIdentityEndpointTests {
    @Test("IMDS: Metadata header required, string numbers in the answer, token accepted by the STS")
    func imds() async throws {
        try await withEmulator { fixture in
            let base =
                "\(fixture.baseURL.absoluteString)/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fsts.mixedreality.azure.com%2F"
            let missing = try await rawRequest(.GET, base, caFile: fixture.caFile)
            #expect(missing.status == 400)
            #expect(try missing.json()["error_description"] as? String == "Required metadata header not specified")

            let response = try await rawRequest(.GET, base, caFile: fixture.caFile, headers: [("Metadata", "true")])
            #expect(response.status == 200)
            let body = try response.json()
            #expect(body["resource"] as? String == "https://sts.mixedreality.azure.com/")
            #expect(Int(body["expires_on"] as? String ?? "") != nil)
            #expect(body["expires_in"] as? String == "86400")
            let token = try #require(body["access_token"] as? String)
            #expect(try await fixture.sts(authorization: "Bearer \(token)").status == 200)

            let unknown = try await rawRequest(
                .GET, base + "&client_id=\(UUID().uuidString)", caFile: fixture.caFile, headers: [("Metadata", "true")])
            #expect(unknown.status == 400)
            #expect(try unknown.json()["error_description"] as? String == "Identity not found")

            let wrongResource = try await rawRequest(
                .GET, base.replacingOccurrences(of: "sts.mixedreality", with: "vault"), caFile: fixture.caFile,
                headers: [("Metadata", "true")])
            #expect(wrongResource.status == 400)
            #expect(try wrongResource.json()["error"] as? String == "invalid_resource")
        }
    }

    @Test("IMDS selects a user-assigned identity by client id and asks for one when several exist")
    func imdsSelection() async throws {
        let first = UUID().uuidString.lowercased()
        let second = UUID().uuidString.lowercased()
        try await withEmulator(configure: { $0.managedIdentities = [.init(clientId: first), .init(clientId: second)] })
        { fixture in
            let base =
                "\(fixture.baseURL.absoluteString)/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://sts.mixedreality.azure.com"
            let ambiguous = try await rawRequest(.GET, base, caFile: fixture.caFile, headers: [("Metadata", "true")])
            #expect(ambiguous.status == 400)
            #expect(
                (try ambiguous.json()["error_description"] as? String)?.hasPrefix("Multiple user assigned identities")
                    == true)
            let chosen = try await rawRequest(
                .GET, base + "&client_id=\(second)", caFile: fixture.caFile, headers: [("Metadata", "true")])
            #expect(chosen.status == 200)
            #expect(try chosen.json()["client_id"] as? String == second)
        }
    }

    @Test("App Service: X-IDENTITY-HEADER required")
    func appService() async throws {
        try await withEmulator(configure: { $0.identityHeader = "header-secret" }) { fixture in
            let url =
                "\(fixture.baseURL.absoluteString)/msi/token?api-version=2019-08-01&resource=https://sts.mixedreality.azure.com"
            #expect(try await rawRequest(.GET, url, caFile: fixture.caFile).status == 401)
            let response = try await rawRequest(
                .GET, url, caFile: fixture.caFile, headers: [("X-IDENTITY-HEADER", "header-secret")])
            #expect(response.status == 200)
            #expect(try response.json()["access_token"] as? String != nil)
            #expect(fixture.emulator.requests.last?.redacted.header("X-IDENTITY-HEADER") == "<redacted>")
        }
    }
}
