import AzureCore
import Foundation
import Logging
import NIOHTTP1
import STSEmulator
import Synchronization
import TestSupport
import Testing

@testable import MixedRealityAuthentication

/// An Entra credential for these tests that gets a client-secret token from the emulator's Entra
/// endpoint by hand and records the scopes it was asked for.
final class RecordingEntraCredential: TokenCredential {
    let fixture: EmulatorFixture
    let scopes = Mutex<[[String]]>([])
    let issued = Mutex<[String]>([])
    let secret: String

    init(_ fixture: EmulatorFixture, secret: String? = nil) {
        self.fixture = fixture
        self.secret = secret ?? fixture.identities.clientSecret
    }

    struct Failure: Error { let status: Int }

    func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        scopes.withLock { $0.append(context.scopes) }
        let response = try await rawRequest(
            .POST, "\(fixture.baseURL.absoluteString)/\(fixture.identities.tenantId)/oauth2/v2.0/token",
            caFile: fixture.caFile, headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: formEncode([
                ("client_id", fixture.identities.clientId), ("client_secret", secret),
                ("grant_type", "client_credentials"), ("scope", context.scopes.joined(separator: " ")),
            ]))
        guard response.status == 200, let token = try response.json()["access_token"] as? String else {
            throw Failure(status: response.status)
        }
        issued.withLock { $0.append(token) }
        return AccessToken(token: token, expiresOn: Date().addingTimeInterval(3600))
    }
}

extension EmulatorFixture {
    func client(
        key: String? = nil, accountId: String? = nil, configure: (inout MixedRealityStsClientOptions) -> Void = { _ in }
    ) throws -> MixedRealityStsClient {
        var options = MixedRealityStsClientOptions(customEndpointURL: baseURL.absoluteString, pipeline: pipelineOptions)
        configure(&options)
        return try MixedRealityStsClient(
            accountId: accountId ?? identities.accountId, accountDomain: identities.accountDomain,
            credential: try AzureKeyCredential(key ?? identities.accountKey), options: options)
    }
}

@Suite("MixedRealityStsClient against the emulator over HTTPS")
struct MixedRealityStsClientTests {
    @Test("account key: the exact request the SDKs send, a fresh X-MRC-CV per call, expiry from exp")
    func accountKeyRequest() async throws {
        try await withEmulator { fixture in
            let client = try fixture.client(accountId: fixture.identities.accountId.uppercased())
            let first = try await client.getTokenResponse()
            let second = try await client.getTokenResponse()
            let requests = fixture.emulator.requests
            try #require(requests.count == 2)
            for (request, response) in zip(requests, [first, second]) {
                #expect(request.method == "GET")
                #expect(request.path == "/Accounts/\(fixture.identities.accountId)/token")
                #expect(request.query == "api-version=2019-02-28-preview")
                #expect(request.header("Accept") == "application/json")
                #expect(
                    request.header("Authorization")
                        == "Bearer \(fixture.identities.accountId):\(fixture.identities.accountKey)")
                let cv = try #require(request.header("X-MRC-CV"))
                #expect(cv.count == 22)
                #expect(cv.allSatisfy { CorrelationVector.alphabet.contains($0) })
                #expect(response.correlationVector == cv)
                #expect(
                    request.header("User-Agent")
                        == "azsdk-swift-mixedreality-authentication/\(ReleaseVersion.current) (Swift; Linux)")
                #expect(UUID(uuidString: request.header("x-ms-client-request-id") ?? "") != nil)
                #expect(request.status == 200)
                #expect(response.msCV?.hasSuffix(".0") == true)
                #expect(response.tries == 1)
                #expect(try response.accessToken.expiresOn == JWTExpiry.expiry(of: response.accessToken.token))
                #expect(abs(response.accessToken.expiresOn.timeIntervalSinceNow - 86400) < 60)
            }
            #expect(first.correlationVector != second.correlationVector)
        }
    }

    @Test("Entra credential: a token for the regionless double-slash scope is sent as the bearer")
    func entraCredential() async throws {
        try await withEmulator { fixture in
            let credential = RecordingEntraCredential(fixture)
            var options = MixedRealityStsClientOptions(
                customEndpointURL: fixture.baseURL.absoluteString, pipeline: fixture.pipelineOptions)
            let client = try MixedRealityStsClient(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: credential, options: options)
            let token = try await client.getToken()
            #expect(token.token.split(separator: ".").count == 3)
            #expect(credential.scopes.withLock { $0 } == [["https://sts.mixedreality.azure.com//.default"]])
            let sts = try #require(fixture.emulator.requests.last)
            #expect(sts.endpoint == .sts)
            #expect(sts.header("Authorization") == "Bearer \(credential.issued.withLock { $0.last ?? "" })")

            options.authenticationScope = "https://sts.mixedreality.azure.com/.default"
            let custom = try MixedRealityStsClient(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: credential, options: options)
            _ = try await custom.getToken()
            #expect(credential.scopes.withLock { $0.last } == ["https://sts.mixedreality.azure.com/.default"])
        }
    }

    @Test("a failing Entra credential is an authentication failure that keeps its cause")
    func entraFailure() async throws {
        try await withEmulator { fixture in
            let credential = RecordingEntraCredential(fixture, secret: "wrong-secret-value")
            let client = try MixedRealityStsClient(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: credential,
                options: MixedRealityStsClientOptions(
                    customEndpointURL: fixture.baseURL.absoluteString, pipeline: fixture.pipelineOptions))
            let error = await #expect(throws: MixedRealityAuthenticationError.self) { try await client.getToken() }
            #expect(error?.code == .authenticationFailed)
            #expect((error?.cause as? RecordingEntraCredential.Failure)?.status == 401)
            #expect(fixture.emulator.requests.allSatisfy { $0.endpoint == .entra })
        }
    }

    @Test("a ready Mixed Reality token passes through with no STS call")
    func staticToken() async throws {
        try await withEmulator { fixture in
            let ready = AccessToken(token: "a.b.c", expiresOn: Date().addingTimeInterval(600))
            let client = try MixedRealityStsClient(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: StaticTokenCredential(ready),
                options: MixedRealityStsClientOptions(customEndpointURL: fixture.baseURL.absoluteString))
            let response = try await client.getTokenResponse()
            #expect(response.accessToken == ready)
            #expect(response.tries == 0)
            #expect(fixture.emulator.totalRequests == 0)
        }
    }

    @Test("429 with Retry-After: 2 is honoured: the next try comes no sooner")
    func retryAfterHonoured() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, status: 429, retryAfter: "2"))
            let response = try await fixture.client().getTokenResponse()
            let requests = fixture.emulator.requests
            try #require(requests.count == 2)
            #expect(requests[0].status == 429)
            #expect(requests[1].status == 200)
            #expect(requests[1].receivedAt.timeIntervalSince(requests[0].receivedAt) >= 2.0)
            #expect(response.tries == 2)
        }
    }

    @Test("503 and a dropped connection are retried until the token comes")
    func transientFailuresRetried() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, count: 2, status: 503))
            fixture.emulator.inject(Fault(endpoint: .sts, dropConnection: true))
            let response = try await fixture.client().getTokenResponse()
            #expect(fixture.emulator.requests.map(\.status) == [503, 503, 0, 200])
            #expect(response.tries == 4)
        }
    }

    @Test("401 is not retried and the error carries status, correlation ids and the server's reason")
    func unauthorizedNotRetried() async throws {
        try await withEmulator { fixture in
            let wrongKey = "wrong-" + TestIdentities.randomSecret()
            let error = await #expect(throws: MixedRealityAuthenticationError.self) {
                try await fixture.client(key: wrongKey).getToken()
            }
            let requests = fixture.emulator.requests
            #expect(requests.count == 1)
            let failure = try #require(error)
            #expect(failure.code == .authenticationFailed)
            #expect(failure.httpStatus == 401)
            #expect(failure.isRetriable == false)
            #expect(failure.correlationVector == requests.first?.header("X-MRC-CV"))
            #expect(failure.msCV?.hasSuffix(".0") == true)
            #expect(failure.wwwAuthenticate == "Invalid token: wrong account key")
            expectNoSecret([wrongKey], in: String(describing: failure), "the error")
            #expect(String(describing: failure).contains(fixture.identities.accountId))
        }
    }

    @Test("throttling that outlasts the retries is a retriable throttled error")
    func throttledAfterRetries() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, count: 4, status: 429, retryAfter: "0"))
            let error = await #expect(throws: MixedRealityAuthenticationError.self) {
                try await fixture.client().getToken()
            }
            #expect(error?.code == .throttled)
            #expect(error?.isRetriable == true)
            #expect(fixture.emulator.requests.count == 4)
        }
    }

    @Test("a Retry-After longer than the pipeline sleeps is handed to the caller at once")
    func longRetryAfter() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, status: 429, retryAfter: "3600"))
            let error = await #expect(throws: MixedRealityAuthenticationError.self) {
                try await fixture.client().getToken()
            }
            #expect(error?.retryAfter == .seconds(3600))
            #expect(fixture.emulator.requests.count == 1)
        }
    }

    @Test(
        "bad answers are bad responses, never tokens",
        arguments: [
            (Fault(endpoint: .sts, body: "{\"AccessToken\": "), "is not {\"AccessToken\""),
            (Fault(endpoint: .sts, body: "{\"accessToken\": \"a.b.c\"}"), "is not {\"AccessToken\""),
            (Fault(endpoint: .sts, token: .notJWT), "not a JWT"),
        ])
    func badAnswers(fault: Fault, expected: String) async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(fault)
            let error = await #expect(throws: MixedRealityAuthenticationError.self) {
                try await fixture.client { $0.pipeline.retry.maxRetries = 0 }.getToken()
            }
            #expect(error?.code == .badResponse)
            #expect(error?.httpStatus == 200)
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        }
    }

    @Test("the account key can be rotated in place")
    func keyRotation() async throws {
        let identities = TestIdentities()
        let secondKey = "second-" + TestIdentities.randomSecret()
        try await withEmulator(identities: identities, configure: { $0.accounts[0].accountKeys.append(secondKey) }) {
            fixture in
            let key = try AzureKeyCredential(identities.accountKey)
            let client = try MixedRealityStsClient(
                accountId: identities.accountId, accountDomain: identities.accountDomain, credential: key,
                options: MixedRealityStsClientOptions(
                    customEndpointURL: fixture.baseURL.absoluteString, pipeline: fixture.pipelineOptions))
            _ = try await client.getToken()
            try key.update(secondKey)
            _ = try await client.getToken()
            #expect(
                fixture.emulator.requests.map { $0.header("Authorization") } == [
                    "Bearer \(identities.accountId):\(identities.accountKey)",
                    "Bearer \(identities.accountId):\(secondKey)",
                ])
            #expect(throws: AzureCoreError.self) { try key.update("  ") }
            expectNoSecret([secondKey], in: String(describing: key), "the credential's description")
        }
    }
}

@Suite("MixedRealityStsClient transport security and validation")
struct MixedRealityStsClientSecurityTests {
    @Test("an http:// endpoint is refused; loopback plain HTTP works only with the loud opt-in")
    func plainHTTP() async throws {
        let identities = TestIdentities()
        let error = #expect(throws: MixedRealityAuthenticationError.self) {
            try MixedRealityStsClient(
                accountId: identities.accountId, accountDomain: identities.accountDomain,
                credential: try AzureKeyCredential(identities.accountKey),
                options: MixedRealityStsClientOptions(customEndpointURL: "http://127.0.0.1:9"))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("customEndpointURL") == true)
        #expect(error?.message.contains("https://") == true)

        try await withEmulator(identities: identities, configure: { $0.plainHTTP = true }) { fixture in
            #expect(fixture.baseURL.scheme == "http")
            let capture = LogCapture()
            let client = try fixture.client { $0.pipeline.allowInsecureLoopbackHTTP = true }
            _ = try await client.getToken(logger: capture.logger())
            #expect(capture.contains(level: .warning, message: "INSECURE"))
        }
    }

    @Test("trustSystemRoots false: the CA file alone is trusted; a file of another CA is refused")
    func caFileAlone() async throws {
        try await withEmulator { fixture in
            let pinned = try fixture.client { $0.pipeline.trustSystemRoots = false }
            #expect(try await pinned.getToken().token.hasPrefix("ey"))
            let other = FileManager.default.temporaryDirectory.appendingPathComponent("other-ca-\(UUID()).pem").path
            defer { try? FileManager.default.removeItem(atPath: other) }
            try TestCertificateAuthority(name: "another CA").certificatePEM.write(
                toFile: other, atomically: true, encoding: .utf8)
            let error = await #expect(throws: MixedRealityAuthenticationError.self) {
                try await fixture.client {
                    $0.pipeline.additionalTrustedCAFile = other
                    $0.pipeline.trustSystemRoots = false
                }.getToken()
            }
            #expect((error?.cause as? AzureCoreError)?.code == .tls)
            #expect(throws: MixedRealityAuthenticationError.self) {
                try fixture.client {
                    $0.pipeline.additionalTrustedCAFile = nil
                    $0.pipeline.trustSystemRoots = false
                }
            }
        }
    }

    @Test("an untrusted server certificate is refused without retrying")
    func untrustedCertificate() async throws {
        try await withEmulator { fixture in
            let error = await #expect(throws: MixedRealityAuthenticationError.self) {
                try await fixture.client { $0.pipeline.additionalTrustedCAFile = nil }.getToken()
            }
            #expect(error?.code == .transport)
            #expect((error?.cause as? AzureCoreError)?.code == .tls)
            #expect(error?.isRetriable == false)
            #expect(fixture.emulator.totalRequests == 0)
        }
    }

    @Test(
        "an expired or wrong-host server certificate is refused before any request",
        arguments: [
            EmulatorConfiguration.ServerCertificate.expired, .wrongHost,
        ])
    func brokenCertificate(_ broken: EmulatorConfiguration.ServerCertificate) async throws {
        try await withEmulator(configure: { $0.serverCertificate = broken }) { fixture in
            let error = await #expect(throws: MixedRealityAuthenticationError.self) {
                try await fixture.client().getToken()
            }
            #expect(error?.code == .transport)
            #expect((error?.cause as? AzureCoreError)?.code == .tls)
            #expect(fixture.emulator.totalRequests == 0)
        }
    }

    @Test(
        "construction errors name the argument",
        arguments: [
            ("not-a-uuid", "eastus2.mixedreality.azure.com", nil, "accountId"),
            ("", "eastus2.mixedreality.azure.com", nil, "accountId is empty"),
            ("68321d5a-7978-4ceb-b880-0f49751daae9", " ", nil, "accountDomain is empty"),
            ("68321d5a-7978-4ceb-b880-0f49751daae9", "x.example", "https://sts.example/?a=b", "customEndpointURL"),
            ("68321d5a-7978-4ceb-b880-0f49751daae9", "x.example", "not a url", "customEndpointURL"),
            ("68321d5a-7978-4ceb-b880-0f49751daae9", "x.example", "ftp://sts.example", "customEndpointURL"),
            ("68321d5a-7978-4ceb-b880-0f49751daae9", "x.example", "https://user:pass@sts.example", "user info"),
            // A domain that would make `https://sts.<domain>` another host, or is not one at all.
            (
                "68321d5a-7978-4ceb-b880-0f49751daae9", "eastus2.mixedreality.azure.com@evil.example", nil,
                "accountDomain"
            ),
            ("68321d5a-7978-4ceb-b880-0f49751daae9", "eastus2.mixedreality.azure.com/x", nil, "accountDomain"),
            ("68321d5a-7978-4ceb-b880-0f49751daae9", "localhost", nil, "accountDomain"),
        ] as [(String, String, String?, String)])
    func validation(accountId: String, domain: String, endpoint: String?, expected: String) throws {
        let error = #expect(throws: MixedRealityAuthenticationError.self) {
            try MixedRealityStsClient(
                accountId: accountId, accountDomain: domain, credential: try AzureKeyCredential("k"),
                options: MixedRealityStsClientOptions(customEndpointURL: endpoint))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test("the default endpoint is https://sts.<accountDomain> and the account id is lowercased")
    func defaultEndpoint() throws {
        let client = try MixedRealityStsClient(
            accountId: "68321D5A-7978-4CEB-B880-0F49751DAAE9", accountDomain: "eastus2.mixedreality.azure.com",
            credential: try AzureKeyCredential("k"))
        #expect(client.endpointURL.absoluteString == "https://sts.eastus2.mixedreality.azure.com")
        #expect(client.accountId == "68321d5a-7978-4ceb-b880-0f49751daae9")
        #expect(client.options.authenticationScope == "https://sts.mixedreality.azure.com//.default")
    }

    @Test("an unreadable CA bundle is an invalid argument naming the file")
    func badCAFile() throws {
        let error = #expect(throws: MixedRealityAuthenticationError.self) {
            try MixedRealityStsClient(
                accountId: "68321d5a-7978-4ceb-b880-0f49751daae9", accountDomain: "x.example",
                credential: try AzureKeyCredential("k"),
                options: MixedRealityStsClientOptions(
                    pipeline: HTTPPipelineOptions(additionalTrustedCAFile: "/nonexistent/ca.pem")))
        }
        #expect(error?.message.contains("/nonexistent/ca.pem") == true)
    }

    @Test("a captured trace log of a whole run holds no key, secret or token")
    func noSecretsInLogs() async throws {
        let capture = LogCapture()
        let logger = capture.logger()
        var secrets: [String] = []
        try await withEmulator(logger: capture.logger("emulator")) { fixture in
            secrets += fixture.identities.secrets
            let client = try fixture.client()
            let token = try await client.getToken(logger: logger)
            secrets.append(token.token)
            fixture.emulator.inject(Fault(endpoint: .sts, count: 2, status: 503))
            secrets.append(try await client.getToken(logger: logger).token)
            let credential = RecordingEntraCredential(fixture)
            let entra = try MixedRealityStsClient(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: credential,
                options: MixedRealityStsClientOptions(
                    customEndpointURL: fixture.baseURL.absoluteString, pipeline: fixture.pipelineOptions))
            secrets.append(try await entra.getToken(logger: logger).token)
            secrets += credential.issued.withLock { $0 }
            let wrongKey = "wrong-" + TestIdentities.randomSecret()
            secrets.append(wrongKey)
            do {
                _ = try await fixture.client(key: wrongKey).getToken(logger: logger)
            } catch {
                logger.error("failed", metadata: ["error": "\(error)"])
            }
        }
        #expect(capture.text.contains("Authorization: REDACTED"), "request lines must be logged at trace level")
        #expect(capture.text.contains("Retrying after status"))
        #expect(capture.leaked(secrets).isEmpty)
    }
}
