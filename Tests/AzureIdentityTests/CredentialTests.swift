import AzureCore
import Crypto
import Foundation
import Logging
import STSEmulator
import Synchronization
import TestSupport
import Testing

@testable import AzureIdentity

@Suite("Client secret credential")
struct ClientSecretCredentialTests {
    @Test(
        "Entra with an expired or wrong-host certificate is refused before any request",
        arguments: [
            EmulatorConfiguration.ServerCertificate.expired, .wrongHost,
        ])
    func brokenCertificate(_ broken: EmulatorConfiguration.ServerCertificate) async throws {
        try await withEmulator(configure: { $0.serverCertificate = broken }) { fixture in
            let credential = try ClientSecretCredential(
                tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                clientSecret: fixture.identities.clientSecret, options: fixture.credentialOptions())
            await #expect(throws: AzureIdentityError.self) {
                _ = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            }
            #expect(fixture.emulator.totalRequests == 0)
        }
    }

    @Test("gets an Entra token that buys a Mixed Reality token; the form is what Entra expects")
    func secret() async throws {
        try await withEmulator { fixture in
            let credential = try ClientSecretCredential(
                tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                clientSecret: fixture.identities.clientSecret, options: fixture.credentialOptions())
            let token = try await fixture.mixedRealityToken(with: credential)
            #expect(token.token.split(separator: ".").count == 3)
            let entra = try #require(fixture.entraRequests.first)
            #expect(entra.method == "POST")
            #expect(entra.path == "/\(fixture.identities.tenantId)/oauth2/v2.0/token")
            #expect(entra.header("Content-Type") == "application/x-www-form-urlencoded")
            #expect(UUID(uuidString: entra.header("client-request-id") ?? "") != nil)
            #expect(
                entra.form == [
                    "client_id": fixture.identities.clientId, "client_secret": fixture.identities.clientSecret,
                    "grant_type": "client_credentials", "scope": "https://sts.mixedreality.azure.com//.default",
                ])
        }
    }

    @Test("a secret file is re-read on each request, so a rotated Secret is used at once")
    func secretFileRotation() async throws {
        let rotated = "rotated-" + TestIdentities.randomSecret()
        try await withEmulator(configure: {
            $0.applications[0].clientSecrets?.append(rotated)
            $0.entraTokenLifetimeSeconds = 60  // below the 5-minute refresh offset: every call asks Entra
        }) { fixture in
            try await withTemporaryDirectory { directory in
                let file = directory.appendingPathComponent("client-secret").path
                try replace(file, with: fixture.identities.clientSecret + "\n")
                let credential = try ClientSecretCredential(
                    tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                    clientSecretFile: file,
                    options: fixture.credentialOptions())
                _ = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
                try replace(file, with: rotated)
                _ = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
                #expect(
                    fixture.entraRequests.map { $0.form["client_secret"] } == [
                        fixture.identities.clientSecret, rotated,
                    ])
                try FileManager.default.removeItem(atPath: file)
                let fresh = try ClientSecretCredential(
                    tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                    clientSecretFile: file,
                    options: fixture.credentialOptions())
                let error = await #expect(throws: AzureIdentityError.self) {
                    try await fresh.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
                }
                #expect(error?.message.contains(file) == true)
                #expect(error?.message.contains("does not exist") == true)
            }
        }
    }

    @Test("a refusal carries Entra's error, AADSTS code, trace and correlation ids, never the secret")
    func refusal() async throws {
        try await withEmulator { fixture in
            let wrong = "wrong-" + TestIdentities.randomSecret()
            let credential = try ClientSecretCredential(
                tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId, clientSecret: wrong,
                options: fixture.credentialOptions())
            let error = try #require(
                await #expect(throws: AzureIdentityError.self) {
                    try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
                })
            #expect(error.code == .authenticationFailed)
            #expect(error.httpStatus == 401)
            #expect(error.entraError == "invalid_client")
            #expect(error.aadstsCodes == [7_000_215])
            #expect(error.traceId != nil)
            #expect(error.correlationId == fixture.entraRequests.first?.header("client-request-id"))
            #expect(error.isRetriable == false)
            expectNoSecret([wrong], in: "\(error)", "the error")
            #expect("\(error)".contains("AADSTS7000215"))
        }
    }

    @Test("50 concurrent getToken calls make one request")
    func concurrency() async throws {
        try await withEmulator { fixture in
            let credential = try ClientSecretCredential(
                tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                clientSecret: fixture.identities.clientSecret, options: fixture.credentialOptions())
            fixture.emulator.inject(Fault(endpoint: .entra, delayMs: 200))
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"]).token
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1)
            #expect(fixture.entraRequests.count == 1)
        }
    }

    @Test(
        "bad arguments are named",
        arguments: [
            ("bad tenant!", "c", nil, "tenantId"),
            ("", "c", nil, "tenantId is empty"),
            ("t", "", nil, "clientId is empty"),
            ("t", "c", "http://login.example", "must be an https:// URL"),
            ("t", "c", "not a url", "is not a URL"),
        ] as [(String, String, String?, String)])
    func validation(tenant: String, client: String, authority: String?, expected: String) {
        let error = #expect(throws: AzureIdentityError.self) {
            try ClientSecretCredential(
                tenantId: tenant, clientId: client, clientSecret: "s",
                options: TokenCredentialOptions(authorityHost: authority, environment: [:]))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test("the authority host comes from the option, then AZURE_AUTHORITY_HOST, then the public cloud")
    func authorityHost() throws {
        let fromEnvironment = try ClientSecretCredential(
            tenantId: "t", clientId: "c", clientSecret: "s",
            options: TokenCredentialOptions(environment: ["AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/"]))
        #expect(
            fromEnvironment.client.tokenURL.absoluteString == "https://login.microsoftonline.us/t/oauth2/v2.0/token")
        let option = try ClientSecretCredential(
            tenantId: "t", clientId: "c", clientSecret: "s",
            options: TokenCredentialOptions(
                authorityHost: "https://login.chinacloudapi.cn",
                environment: ["AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us"]))
        #expect(option.client.tokenURL.absoluteString == "https://login.chinacloudapi.cn/t/oauth2/v2.0/token")
        let fallback = try ClientSecretCredential(
            tenantId: "adfs", clientId: "c", clientSecret: "s", options: TokenCredentialOptions(environment: [:]))
        #expect(fallback.client.tokenURL.absoluteString == "https://login.microsoftonline.com/adfs/oauth2/token")
    }
}

@Suite("Workload identity credential")
struct WorkloadIdentityCredentialTests {
    static let subject = "system:serviceaccount:default:workload"

    static func environment(_ fixture: EmulatorFixture, tokenFile: String) -> [String: String] {
        [
            "AZURE_CLIENT_ID": fixture.identities.clientId, "AZURE_TENANT_ID": fixture.identities.tenantId,
            "AZURE_FEDERATED_TOKEN_FILE": tokenFile, "AZURE_AUTHORITY_HOST": fixture.baseURL.absoluteString,
        ]
    }

    static func withWorkloadEmulator(_ body: (EmulatorFixture, String) async throws -> Void) async throws {
        try await withEmulator(configure: {
            $0.applications[0].federatedCredentials = [.init(subject: subject)]
            $0.entraTokenLifetimeSeconds = 60
        }) { fixture in
            try await withTemporaryDirectory { directory in
                try await body(fixture, directory.appendingPathComponent("azure-identity-token").path)
            }
        }
    }

    @Test("the AZURE_* variables configure it; its token buys a Mixed Reality token")
    func fromEnvironment() async throws {
        try await Self.withWorkloadEmulator { fixture, file in
            let assertion = try fixture.emulator.mintServiceAccountToken(subject: Self.subject)
            try replace(file, with: assertion + "\n")
            var options = fixture.credentialOptions(environment: Self.environment(fixture, tokenFile: file))
            options.authorityHost = nil
            let credential = try WorkloadIdentityCredential(options: options)
            _ = try await fixture.mixedRealityToken(with: credential)
            let form = try #require(fixture.entraRequests.first?.form)
            #expect(form["client_assertion"] == assertion, "the file content, trimmed")
            #expect(form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            #expect(form["client_id"] == fixture.identities.clientId)
        }
    }

    @Test("the token file is re-read after 5 minutes, not before")
    func rereadWindow() async throws {
        try await Self.withWorkloadEmulator { fixture, file in
            let clock = ManualClock()
            let first = try fixture.emulator.mintServiceAccountToken(subject: Self.subject)
            let second = try fixture.emulator.mintServiceAccountToken(subject: Self.subject)
            try replace(file, with: first)
            let options = fixture.credentialOptions(
                environment: Self.environment(fixture, tokenFile: file), clock: clock)
            let credential = try WorkloadIdentityCredential(options: options)
            let scope = ["https://sts.mixedreality.azure.com//.default"]
            _ = try await credential.getToken(scopes: scope)
            try replace(file, with: second)
            clock.advance(60)
            _ = try await credential.getToken(scopes: scope)
            clock.advance(241)
            _ = try await credential.getToken(scopes: scope)
            #expect(fixture.entraRequests.map { $0.form["client_assertion"] } == [first, first, second])
        }
    }

    @Test("AADSTS700024 makes it re-read the file at once and try again")
    func expiredAssertion() async throws {
        try await Self.withWorkloadEmulator { fixture, file in
            let first = try fixture.emulator.mintServiceAccountToken(subject: Self.subject)
            let second = try fixture.emulator.mintServiceAccountToken(subject: Self.subject)
            try replace(file, with: first)
            let credential = try WorkloadIdentityCredential(
                options: fixture.credentialOptions(environment: Self.environment(fixture, tokenFile: file)))
            _ = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            try replace(file, with: second)
            fixture.emulator.inject(Fault(endpoint: .entra, aadstsCode: 700_024))
            _ = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            #expect(fixture.entraRequests.map { $0.form["client_assertion"] } == [first, first, second])

            // The same rejection with an unchanged file is returned, as retriable.
            fixture.emulator.inject(Fault(endpoint: .entra, aadstsCode: 700_024))
            let clock = ManualClock()
            var options = fixture.credentialOptions(
                environment: Self.environment(fixture, tokenFile: file), clock: clock)
            options.now = clock.now
            let fresh = try WorkloadIdentityCredential(options: options)
            let error = await #expect(throws: AzureIdentityError.self) {
                try await fresh.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            }
            #expect(error?.aadstsCodes == [700_024])
            #expect(error?.isRetriable == true)
        }
    }

    @Test("a missing variable, file or content is a clear error naming it")
    func unavailable() async throws {
        let missing = #expect(throws: AzureIdentityError.self) {
            try WorkloadIdentityCredential(
                options: TokenCredentialOptions(environment: ["AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t"]))
        }
        #expect(missing?.code == .credentialUnavailable)
        #expect(missing?.message.contains("AZURE_FEDERATED_TOKEN_FILE") == true)

        try await withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("token").path
            let credential = try WorkloadIdentityCredential(
                tenantId: "t", clientId: "c", tokenFilePath: file, options: TokenCredentialOptions(environment: [:]))
            let absent = await #expect(throws: AzureIdentityError.self) {
                try await credential.getToken(scopes: ["s/.default"])
            }
            #expect(absent?.message.contains(file) == true)
            try replace(file, with: "  \n")
            let empty = await #expect(throws: AzureIdentityError.self) {
                try await credential.getToken(scopes: ["s/.default"])
            }
            #expect(empty?.message == "the federated token file \(file) is empty")
        }
    }
}

@Suite("Client certificate credential")
struct ClientCertificateCredentialTests {
    static func withCertificateEmulator(
        registered: [TestCertificate], _ body: (EmulatorFixture, String) async throws -> Void
    ) async throws {
        let pems = try registered.map { try $0.pem }
        try await withEmulator(configure: {
            $0.applications[0].certificatesPEM = pems
            $0.entraTokenLifetimeSeconds = 60
        }) { fixture in
            try await withTemporaryDirectory { directory in
                try await body(fixture, directory.appendingPathComponent("tls.pem").path)
            }
        }
    }

    /// The default certificate credential for the emulator's application, from `file`.
    static func credential(_ fixture: EmulatorFixture, _ file: String) throws -> ClientCertificateCredential {
        try ClientCertificateCredential(
            tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId, certificatePath: file,
            options: fixture.credentialOptions())
    }

    @Test("PS256 with x5t#S256 by default, verified by the emulator; a fresh jti and ≤10 min each time")
    func ps256() async throws {
        let certificate = try TestCertificate.rsa()
        try await Self.withCertificateEmulator(registered: [certificate]) { fixture, file in
            try replace(file, with: try certificate.combinedPEM)
            let credential = try Self.credential(fixture, file)
            _ = try await fixture.mixedRealityToken(with: credential)
            _ = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            let assertions = fixture.entraRequests.compactMap { $0.form["client_assertion"] }
            try #require(assertions.count == 2)
            let header = jwtPart(assertions[0], 0)
            #expect(header["alg"] as? String == "PS256")
            #expect(header["x5t#S256"] as? String == Base64URL.encode(Array(SHA256.hash(data: try certificate.der))))
            #expect(header["x5t"] == nil && header["x5c"] == nil)
            let claims = assertions.map { jwtPart($0, 1) }
            #expect(
                claims[0]["aud"] as? String
                    == "\(fixture.baseURL.absoluteString)/\(fixture.identities.tenantId)/oauth2/v2.0/token")
            #expect(claims[0]["iss"] as? String == fixture.identities.clientId)
            #expect(claims[0]["sub"] as? String == fixture.identities.clientId)
            #expect(claims[0]["jti"] as? String != claims[1]["jti"] as? String)
            for claim in claims {
                let lifetime = (claim["exp"] as? Int ?? 0) - (claim["nbf"] as? Int ?? 0)
                #expect(lifetime > 0 && lifetime <= 600)
            }
        }
    }

    @Test("a retried token request carries a new assertion: Entra refuses a jti it has seen")
    func retryResigns() async throws {
        let certificate = try TestCertificate.rsa()
        try await Self.withCertificateEmulator(registered: [certificate]) { fixture, file in
            try replace(file, with: try certificate.combinedPEM)
            let credential = try Self.credential(fixture, file)
            fixture.emulator.inject(Fault(endpoint: .entra, count: 2, status: 503))
            _ = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            let assertions = fixture.entraRequests.compactMap { $0.form["client_assertion"] }
            #expect(assertions.count == 3, "two 503s, then the token")
            #expect(Set(assertions.map { jwtPart($0, 1)["jti"] as? String ?? "" }).count == 3)
        }
    }

    @Test("RS256 with x5t on request, the x5c chain on request, ES256 for an EC key")
    func variants() async throws {
        let rsa = try TestCertificate.rsa()
        let ec = try TestCertificate.p256()
        try await Self.withCertificateEmulator(registered: [rsa, ec]) { fixture, file in
            try replace(file, with: try rsa.combinedPEM)
            let legacy = try ClientCertificateCredential(
                tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId, certificatePath: file,
                sendCertificateChain: true, algorithm: .rs256, options: fixture.credentialOptions())
            _ = try await legacy.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            let header = jwtPart(fixture.entraRequests.last?.form["client_assertion"] ?? "", 0)
            #expect(header["alg"] as? String == "RS256")
            #expect(header["x5t"] as? String != nil && header["x5t#S256"] == nil)
            #expect(header["x5c"] as? [String] == [Data(try rsa.der).base64EncodedString()])

            try await withTemporaryDirectory { directory in
                let ecFile = directory.appendingPathComponent("ec.pem").path
                try replace(ecFile, with: try ec.combinedPEM)
                let credential = try ClientCertificateCredential(
                    tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                    certificatePath: ecFile,
                    options: fixture.credentialOptions())
                _ = try await fixture.mixedRealityToken(with: credential)
                #expect(
                    jwtPart(fixture.entraRequests.last?.form["client_assertion"] ?? "", 0)["alg"] as? String == "ES256")
            }
        }
    }

    @Test("a certificate for another key is refused with AADSTS700027; a changed file is read again")
    func unregisteredThenRotated() async throws {
        let registered = try TestCertificate.rsa()
        let other = try TestCertificate.rsa()
        try await Self.withCertificateEmulator(registered: [registered]) { fixture, file in
            try replace(file, with: try other.combinedPEM)
            let credential = try Self.credential(fixture, file)
            let error = await #expect(throws: AzureIdentityError.self) {
                try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            }
            #expect(error?.aadstsCodes == [700_027])
            #expect(error?.code == .authenticationFailed)
            try replace(file, with: try registered.combinedPEM)
            _ = try await fixture.mixedRealityToken(with: credential)
        }
    }

    @Test(
        "files that are not a usable certificate and key are named with what is wrong",
        arguments: [
            ("not pem at all", "not a PEM file"),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "does not parse"),
            ("CERT_ONLY", "no private key block"),
            ("KEY_ONLY", "no CERTIFICATE block"),
            ("MISMATCH", "no certificate in the file matches the private key"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
        ])
    func badFiles(content: String, expected: String) async throws {
        let certificate = try TestCertificate.rsa()
        let other = try TestCertificate.rsa()
        let combined = try certificate.combinedPEM
        let start = try #require(combined.range(of: "-----BEGIN PRIVATE KEY") ?? combined.range(of: "-----BEGIN RSA"))
        let keyOnly = String(combined[start.lowerBound...])
        let certificatePEM = try certificate.pem
        let otherPEM = try other.pem
        let text: String =
            switch content {
            case "CERT_ONLY": certificatePEM
            case "KEY_ONLY": keyOnly
            case "MISMATCH": otherPEM + "\n" + keyOnly
            default: content
            }
        try await withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("cert.pem").path
            try replace(file, with: text)
            let credential = try ClientCertificateCredential(
                tenantId: "t", clientId: "c", certificatePath: file, options: TokenCredentialOptions(environment: [:]))
            let error = await #expect(throws: AzureIdentityError.self) {
                try await credential.getToken(scopes: ["s/.default"])
            }
            #expect(error?.message.contains(file) == true)
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        }
    }
}
