import AzureCore
import Foundation
import Logging
import STSEmulator
import TestSupport
import Testing

@testable import AzureIdentity

@Suite("Managed identity credential")
struct ManagedIdentityCredentialTests {
    @Test("IMDS through AZURE_POD_IDENTITY_AUTHORITY_HOST: the SDKs' request, half-life refresh for 24 h tokens")
    func imds() async throws {
        try await withEmulator { fixture in
            let credential = try ManagedIdentityCredential(
                options: fixture.credentialOptions(environment: [
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST": fixture.baseURL.absoluteString
                ]))
            let started = Date()
            let token = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            let refreshOn = try #require(token.refreshOn)
            #expect(abs(refreshOn.timeIntervalSince(started) - 43200) < 60)
            _ = try await fixture.mixedRealityToken(with: credential)
            let imds = try #require(fixture.emulator.requests.first { $0.endpoint == .managedIdentity })
            #expect(imds.path == "/metadata/identity/oauth2/token")
            #expect(imds.query == "api-version=2018-02-01&resource=https://sts.mixedreality.azure.com/")
            #expect(imds.header("Metadata") == "true")
            #expect(fixture.emulator.requests.filter { $0.endpoint == .managedIdentity }.count == 1, "cached")
        }
    }

    @Test("a user-assigned identity by client id; 404 while assigning is retried")
    func userAssigned() async throws {
        let clientId = UUID().uuidString.lowercased()
        try await withEmulator(configure: { $0.managedIdentities.append(.init(clientId: clientId)) }) { fixture in
            fixture.emulator.inject(Fault(endpoint: .managedIdentity, count: 2, status: 404))
            var options = fixture.credentialOptions(environment: [
                "AZURE_POD_IDENTITY_AUTHORITY_HOST": fixture.baseURL.absoluteString
            ])
            options.pipeline.retry = RetryOptions(
                maxRetries: 5, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50),
                retriableStatuses: ManagedIdentityCredential.imdsRetry.retriableStatuses)
            let credential = try ManagedIdentityCredential(identity: .clientId(clientId), options: options)
            let token = try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            #expect(jwtPart(token.token, 1)["appid"] as? String == clientId)
            let statuses = fixture.emulator.requests.map(\.status)
            #expect(statuses == [404, 404, 200])
            #expect(fixture.emulator.requests.last?.query?.hasSuffix("&client_id=\(clientId)") == true)
        }
    }

    @Test("an unknown identity is unavailable (IMDS 400), an unreachable endpoint too")
    func unavailable() async throws {
        try await withEmulator { fixture in
            let credential = try ManagedIdentityCredential(
                identity: .objectId("nope"),
                options: fixture.credentialOptions(environment: [
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST": fixture.baseURL.absoluteString
                ]))
            let error = await #expect(throws: AzureIdentityError.self) {
                try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            }
            #expect(error?.code == .credentialUnavailable)
            #expect(error?.message.contains("Identity not found") == true)
        }
        var options = TokenCredentialOptions(environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1"])
        options.pipeline.retry.maxRetries = 0
        let unreachable = try ManagedIdentityCredential(options: options)
        let error = await #expect(throws: AzureIdentityError.self) {
            try await unreachable.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
        }
        #expect(error?.code == .credentialUnavailable)
        #expect(error?.isRetriable == true)
    }

    @Test("App Service: IDENTITY_ENDPOINT and IDENTITY_HEADER")
    func appService() async throws {
        try await withEmulator(configure: { $0.identityHeader = "identity-header-secret" }) { fixture in
            let credential = try ManagedIdentityCredential(
                options: fixture.credentialOptions(environment: [
                    "IDENTITY_ENDPOINT": "\(fixture.baseURL.absoluteString)/msi/token",
                    "IDENTITY_HEADER": "identity-header-secret",
                ]))
            _ = try await fixture.mixedRealityToken(with: credential)
            let request = try #require(fixture.emulator.requests.first)
            #expect(request.path == "/msi/token")
            #expect(request.header("X-IDENTITY-HEADER") == "identity-header-secret")
            #expect(request.query?.hasPrefix("api-version=2019-08-01&resource=") == true)
        }
    }
}

@Suite("Environment and default credentials")
struct ChainTests {
    @Test("EnvironmentCredential: secret first, then certificate; nothing set names the variables")
    func environment() async throws {
        try await withEmulator { fixture in
            let base = ["AZURE_TENANT_ID": fixture.identities.tenantId, "AZURE_CLIENT_ID": fixture.identities.clientId]
            let secret = EnvironmentCredential(
                options: fixture.credentialOptions(
                    environment: base.merging(["AZURE_CLIENT_SECRET": fixture.identities.clientSecret]) { $1 }))
            _ = try await fixture.mixedRealityToken(with: secret)
            #expect(fixture.emulator.requests.first?.form["client_secret"] == fixture.identities.clientSecret)

            let none = EnvironmentCredential(options: fixture.credentialOptions(environment: [:]))
            let error = await #expect(throws: AzureIdentityError.self) {
                try await none.getToken(scopes: ["s/.default"])
            }
            #expect(error?.code == .credentialUnavailable)
            #expect(
                error?.message
                    == "environment variables not set: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"
            )
        }
        let certificate = try TestCertificate.rsa()
        let pem = try certificate.pem
        let identities = TestIdentities()
        try await withEmulator(identities: identities, configure: { $0.applications[0].certificatesPEM = [pem] }) {
            fixture in
            try await withTemporaryDirectory { directory in
                let file = directory.appendingPathComponent("cert.pem").path
                try replace(file, with: try certificate.combinedPEM)
                let credential = EnvironmentCredential(
                    options: fixture.credentialOptions(environment: [
                        "AZURE_TENANT_ID": identities.tenantId, "AZURE_CLIENT_ID": identities.clientId,
                        "AZURE_CLIENT_CERTIFICATE_PATH": file, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN": "true",
                    ]))
                _ = try await fixture.mixedRealityToken(with: credential)
                #expect(jwtPart(fixture.emulator.requests.first?.form["client_assertion"] ?? "", 0)["x5c"] != nil)
            }
        }
    }

    @Test("with only workload identity variables set, the default chain uses workload identity")
    func defaultPicksWorkloadIdentity() async throws {
        let subject = "system:serviceaccount:default:chain"
        try await withEmulator(configure: { $0.applications[0].federatedCredentials = [.init(subject: subject)] }) {
            fixture in
            try await withTemporaryDirectory { directory in
                let file = directory.appendingPathComponent("token").path
                try replace(file, with: try fixture.emulator.mintServiceAccountToken(subject: subject))
                var options = fixture.credentialOptions(environment: [
                    "AZURE_CLIENT_ID": fixture.identities.clientId, "AZURE_TENANT_ID": fixture.identities.tenantId,
                    "AZURE_FEDERATED_TOKEN_FILE": file, "AZURE_AUTHORITY_HOST": fixture.baseURL.absoluteString,
                    // Keeps the managed identity probe on loopback; it is never reached here.
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1",
                ])
                options.authorityHost = nil
                let credential = try DefaultAzureCredential(options: options)
                _ = try await fixture.mixedRealityToken(with: credential)
                _ = try await fixture.mixedRealityToken(with: credential)
                #expect(fixture.entraRequests.allSatisfy { $0.form["client_assertion_type"] != nil })
                #expect(fixture.emulator.requests.allSatisfy { $0.endpoint != .managedIdentity })
            }
        }
    }

    @Test("with nothing configured, the error names all three credentials and why")
    func defaultNothingWorks() async throws {
        var options = TokenCredentialOptions(environment: ["AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1"])
        options.pipeline.retry.maxRetries = 0
        let credential = try DefaultAzureCredential(options: options)
        let error = try #require(
            await #expect(throws: AzureIdentityError.self) {
                try await credential.getToken(scopes: ["https://sts.mixedreality.azure.com//.default"])
            })
        #expect(error.code == .credentialUnavailable)
        #expect(error.credential == "DefaultAzureCredential")
        #expect(error.message.contains("EnvironmentCredential: environment variables not set"))
        #expect(
            error.message.contains("WorkloadIdentityCredential: tenantId is not set and neither is AZURE_TENANT_ID"))
        #expect(
            error.message.contains(
                "ManagedIdentityCredential: the managed identity endpoint 127.0.0.1 cannot be reached"))
    }

    @Test("AZURE_TOKEN_CREDENTIALS narrows the chain; an unknown value is refused")
    func tokenCredentialsVariable() throws {
        let one = try DefaultAzureCredential(
            options: TokenCredentialOptions(environment: ["AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential"]))
        #expect(one.chain.map(\.name) == ["ManagedIdentityCredential"])
        let all = try DefaultAzureCredential(
            options: TokenCredentialOptions(environment: ["AZURE_TOKEN_CREDENTIALS": "prod"]))
        #expect(
            all.chain.map(\.name) == [
                "EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential",
            ])
        #expect(throws: AzureIdentityError.self) {
            try DefaultAzureCredential(options: TokenCredentialOptions(environment: ["AZURE_TOKEN_CREDENTIALS": "cli"]))
        }
    }
}

@Suite("Identity secrets never reach logs")
struct IdentityLogScanTests {
    @Test("a trace-level log of every flow holds no secret, assertion, private key or token")
    func scan() async throws {
        let capture = LogCapture()
        let logger = capture.logger()
        let certificate = try TestCertificate.rsa()
        let pem = try certificate.pem
        let subject = "system:serviceaccount:default:scan"
        var secrets: [String] = []
        try await withEmulator(
            logger: capture.logger("emulator"),
            configure: {
                $0.applications[0].certificatesPEM = [pem]
                $0.applications[0].federatedCredentials = [.init(subject: subject)]
                $0.identityHeader = "identity-header-" + TestIdentities.randomSecret()
            }
        ) { fixture in
            try await withTemporaryDirectory { directory in
                let scope = ["https://sts.mixedreality.azure.com//.default"]
                let certFile = directory.appendingPathComponent("cert.pem").path
                let combined = try certificate.combinedPEM
                try replace(certFile, with: combined)
                secrets += combined.split(separator: "\n").filter { $0.count > 40 }.map(String.init)
                let tokenFile = directory.appendingPathComponent("token").path
                let assertion = try fixture.emulator.mintServiceAccountToken(subject: subject)
                try replace(tokenFile, with: assertion)
                secrets +=
                    fixture.identities.secrets + [assertion, fixture.emulator.configuration.identityHeader ?? ""]
                let credentials: [any TokenCredential] = [
                    try ClientSecretCredential(
                        tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                        clientSecret: fixture.identities.clientSecret, options: fixture.credentialOptions()),
                    try ClientSecretCredential(
                        tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                        clientSecret: "wrong-" + fixture.identities.clientSecret, options: fixture.credentialOptions()),
                    try ClientCertificateCredential(
                        tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                        certificatePath: certFile,
                        options: fixture.credentialOptions()),
                    try WorkloadIdentityCredential(
                        tenantId: fixture.identities.tenantId, clientId: fixture.identities.clientId,
                        tokenFilePath: tokenFile,
                        options: fixture.credentialOptions()),
                    try ManagedIdentityCredential(
                        options: fixture.credentialOptions(environment: [
                            "AZURE_POD_IDENTITY_AUTHORITY_HOST": fixture.baseURL.absoluteString
                        ])),
                    try ManagedIdentityCredential(
                        options: fixture.credentialOptions(environment: [
                            "IDENTITY_ENDPOINT": "\(fixture.baseURL.absoluteString)/msi/token",
                            "IDENTITY_HEADER": fixture.emulator.configuration.identityHeader ?? "",
                        ])),
                ]
                for credential in credentials {
                    do {
                        secrets.append(try await credential.getToken(for: .init(scopes: scope), logger: logger).token)
                    } catch {
                        logger.error("credential failed", metadata: ["error": "\(error)"])
                    }
                }
                secrets += fixture.emulator.requests.compactMap { $0.form["client_assertion"] }
            }
        }
        #expect(secrets.count > 12)
        #expect(capture.text.contains("client_secret") == false)
        #expect(capture.contains(level: .error, message: "credential failed"))
        #expect(capture.leaked(secrets).isEmpty)
    }
}
