import AzureCore
import Foundation
import MixedRealityAuthentication
import MixedRealityTokenFile
import NIOHTTP1
import STSEmulator
import Synchronization
import TestSupport
import Testing

/// The app side: the examples run as built, against the emulator and the sidecar, as an app
/// developer would run them.
@Suite("Examples and the app side")
struct ExamplesTests {
    /// The environment the examples read, pointed at the emulator.
    static func exampleEnvironment(_ fixture: EmulatorFixture) -> [String: String] {
        [
            "MR_ACCOUNT_ID": fixture.identities.accountId, "MR_ACCOUNT_DOMAIN": fixture.identities.accountDomain,
            "MR_STS_ENDPOINT": fixture.baseURL.absoluteString, "MR_CA_FILE": fixture.caFile,
        ]
    }

    /// No JWT in the text: the examples print about the token, never the token.
    static func holdsNoJWT(_ text: String) -> Bool {
        !text.split(whereSeparator: { " \n\"':=".contains($0) }).contains {
            $0.hasPrefix("eyJ") && $0.split(separator: ".").count == 3
        }
    }

    @Test("GetToken, the account key: one STS call with the key, the token's account and expiry printed, no secret")
    func getTokenAccountKey() async throws {
        try await withEmulator { fixture in
            var environment = Self.exampleEnvironment(fixture)
            environment["MR_ACCOUNT_KEY"] = fixture.identities.accountKey
            let child = try ChildProcess.start(
                executable: "mr-example-get-token", arguments: ["account-key"], environment: environment)
            #expect(await child.exitStatus() == 0, "\(child.standardError)")
            #expect(
                child.standardOutput.contains("a Mixed Reality token for account \(fixture.identities.accountId)"),
                "\(child.standardOutput)")
            let sts = fixture.emulator.requests.filter { $0.endpoint == .sts }
            #expect(sts.count == 1)
            #expect(Self.holdsNoJWT(child.standardOutput + child.standardError))
            expectNoSecret(
                [fixture.identities.accountKey], in: child.standardOutput + child.standardError, "the example's output")
        }
    }

    @Test("GetToken, Entra ID: DefaultAzureCredential from AZURE_* variables, then the STS with the Entra token")
    func getTokenEntra() async throws {
        try await withEmulator { fixture in
            var environment = Self.exampleEnvironment(fixture)
            environment["AZURE_TENANT_ID"] = fixture.identities.tenantId
            environment["AZURE_CLIENT_ID"] = fixture.identities.clientId
            environment["AZURE_CLIENT_SECRET"] = fixture.identities.clientSecret
            environment["AZURE_AUTHORITY_HOST"] = fixture.baseURL.absoluteString
            let child = try ChildProcess.start(
                executable: "mr-example-get-token", arguments: ["entra"], environment: environment)
            #expect(await child.exitStatus() == 0, "\(child.standardError)")
            #expect(child.standardOutput.contains("a Mixed Reality token for account"), "\(child.standardOutput)")
            #expect(fixture.emulator.requests.filter { $0.endpoint == .entra }.count == 1)
            #expect(fixture.emulator.requests.filter { $0.endpoint == .sts }.count == 1)
            let output = child.standardOutput + child.standardError
            #expect(Self.holdsNoJWT(output))
            expectNoSecret([fixture.identities.clientSecret], in: output, "the example's output")
        }
    }

    @Test("GetToken, a ready token: passed through with no STS call; a wrong key fails with the STS's reason, exit 1")
    func getTokenPassthroughAndFailure() async throws {
        try await withEmulator { fixture in
            let ready = try fixture.emulator.mintMixedRealityToken(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                lifetime: 3600)
            var environment = Self.exampleEnvironment(fixture)
            environment["MR_ACCESS_TOKEN"] = ready
            let child = try ChildProcess.start(
                executable: "mr-example-get-token", arguments: ["passthrough"], environment: environment)
            #expect(await child.exitStatus() == 0, "\(child.standardError)")
            #expect(child.standardOutput.contains("\(ready.count) characters"), "\(child.standardOutput)")
            #expect(fixture.emulator.requests.isEmpty, "a ready token needs no STS call")
            #expect(Self.holdsNoJWT(child.standardOutput + child.standardError))

            let wrongKey = TestIdentities.randomSecret()
            environment["MR_ACCOUNT_KEY"] = wrongKey
            let refused = try ChildProcess.start(
                executable: "mr-example-get-token", arguments: ["account-key"], environment: environment)
            #expect(await refused.exitStatus() == 1)
            #expect(refused.standardError.contains("401"), "\(refused.standardError)")
            expectNoSecret([wrongKey], in: refused.standardError, "standard error")

            let usage = try ChildProcess.start(
                executable: "mr-example-get-token", arguments: ["nonsense"], environment: environment)
            #expect(await usage.exitStatus() == 2)
            #expect(usage.standardError.contains("usage: mr-example-get-token account-key | entra | passthrough"))
        }
    }

    @Test(
        "TokenVendingService: 401 without the key, the sidecar's token with its expiry with it, the next token after a rotation; failures limited per address and per key, never locking out the right key"
    )
    func tokenVending() async throws {
        try await withSidecar(stsLifetime: 4) { harness in
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.5\n  jitter: 0")
            let sidecar = try harness.start()
            let keyFile = harness.directory.appending(path: "vending.key").path
            let key = TestIdentities.randomSecret() + TestIdentities.randomSecret()
            try key.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let vending = try ChildProcess.start(
                executable: "mr-example-token-vending", arguments: [],
                environment: [
                    "MR_TOKEN_FILE": harness.output("anchors"), "MR_VENDING_KEY_FILE": keyFile,
                    "MR_VENDING_ADDRESS": "127.0.0.1:0", "MR_VENDING_RATE": "6", "MR_VENDING_BURST": "3",
                    "MR_VENDING_MIN_VALIDITY": "1",
                ])
            let line = try #require(await vending.firstStdoutLine(), "\(vending.standardError)")
            let port = try #require(Int(line.replacing("listening on ", with: "")))
            let url = "http://127.0.0.1:\(port)/token"

            let anonymous = try await rawRequest(.GET, url, caFile: nil)
            #expect(anonymous.status == 401)
            #expect(anonymous.headers["WWW-Authenticate"].first == "Bearer")

            #expect(await sidecar.waitForStandardError(#""msg":"token refreshed""#))
            let authorized = [("Authorization", "Bearer \(key)")]
            // The file as it was just before and just after the request: the sidecar may rotate in between.
            let fileBefore = harness.read(harness.output("anchors"))
            let first = try await rawRequest(.GET, url, caFile: nil, headers: authorized)
            let fileAfter = harness.read(harness.output("anchors"))
            #expect(first.status == 200, "\(first.text)")
            #expect(first.headers["Cache-Control"].first == "no-store")
            let firstBody = try first.json()
            let firstToken = try #require(firstBody["accessToken"] as? String)
            // Booleans, not the tokens: a failing expectation prints its operands.
            let servedTheFile = firstToken == fileBefore || firstToken == fileAfter
            #expect(servedTheFile, "the service handed out the sidecar's token")
            let expiresOn = try #require(firstBody["expiresOnTimestamp"] as? Double)
            #expect(expiresOn == (try JWTExpiry.expiry(of: firstToken).timeIntervalSince1970 * 1000).rounded())
            #expect(firstBody["expiresOn"] is String)

            // The sidecar replaces the 4-second token after 2 seconds; the service follows.
            #expect(await sidecar.waitForStandardError(#""msg":"token refreshed""#, count: 2))
            let second = try await rawRequest(.GET, url, caFile: nil, headers: authorized)
            let secondToken = try #require(try second.json()["accessToken"] as? String)
            let rotated = secondToken != firstToken
            #expect(rotated, "a new token after the rotation")
            #expect(try JWTExpiry.expiry(of: secondToken) > Date())

            // Wrong keys from this address (every device behind an ingress shares one): after the
            // burst of three (the anonymous request above was the first) they are told when to come
            // back, and the right key is still served.
            var statuses: [Int] = []
            for _ in 0..<6 {
                let wrong = [("Authorization", "Bearer \(TestIdentities.randomSecret())")]
                statuses.append(try await rawRequest(.GET, url, caFile: nil, headers: wrong).status)
            }
            #expect(statuses == [401, 401, 429, 429, 429, 429], "\(statuses)")
            let limited = try await rawRequest(
                .GET, url, caFile: nil, headers: [("Authorization", "Bearer \(TestIdentities.randomSecret())")])
            #expect(Int(limited.headers["Retry-After"].first ?? "") ?? 0 >= 1)
            for _ in 0..<10 {
                #expect(try await rawRequest(.GET, url, caFile: nil, headers: authorized).status == 200)
            }

            vending.signal(SIGTERM)
            #expect(await vending.exitStatus() == 0, "\(vending.standardError)")
            sidecar.signal(SIGTERM)
            #expect(await sidecar.exitStatus() == 0)
            let logs = vending.standardOutput + vending.standardError
            expectNoSecret([key, firstToken, secondToken], in: logs, "the service's logs")
            expectNoSecrets(sidecar, harness.secrets())
        }
    }

    @Test(
        "TokenVendingService behind an ingress: X-Forwarded-For names the caller only from a trusted proxy; a spray of addresses does not clear a caller's record; a short key is refused at start"
    )
    func tokenVendingBehindIngress() async throws {
        try await withTemporaryDirectory { directory in
            let keyFile = directory.appending(path: "vending.key").path
            try "too-short-a-key".write(toFile: keyFile, atomically: true, encoding: .utf8)
            let base = [
                "MR_TOKEN_FILE": directory.appending(path: "token").path, "MR_VENDING_KEY_FILE": keyFile,
                "MR_VENDING_ADDRESS": "127.0.0.1:0", "MR_VENDING_RATE": "1", "MR_VENDING_BURST": "2",
            ]
            let weak = try ChildProcess.start(executable: "mr-example-token-vending", arguments: [], environment: base)
            #expect(await weak.exitStatus() == 2)
            #expect(weak.standardOutput.contains("shorter than 32 random bytes"), "\(weak.standardOutput)")

            try (TestIdentities.randomSecret() + TestIdentities.randomSecret()).write(
                toFile: keyFile, atomically: true, encoding: .utf8)
            func start(_ extra: [String: String]) async throws -> (ChildProcess, String) {
                let vending = try ChildProcess.start(
                    executable: "mr-example-token-vending", arguments: [],
                    environment: base.merging(extra) { $1 })
                let line = try #require(await vending.firstStdoutLine(), "\(vending.standardError)")
                return (vending, "http://127.0.0.1:\(line.replacing("listening on ", with: ""))/token")
            }
            func fail(_ url: String, from address: String) async throws -> Int {
                try await rawRequest(
                    .GET, url, caFile: nil,
                    headers: [
                        ("Authorization", "Bearer wrong-\(address)"), ("X-Forwarded-For", "\(address), 127.0.0.1"),
                    ]
                ).status
            }

            // Not trusted: X-Forwarded-For is ignored, every failure is 127.0.0.1's.
            let (direct, directURL) = try await start([:])
            #expect(try await fail(directURL, from: "203.0.113.1") == 401)
            #expect(try await fail(directURL, from: "203.0.113.2") == 401)
            #expect(try await fail(directURL, from: "203.0.113.3") == 429)
            direct.signal(SIGTERM)
            #expect(await direct.exitStatus() == 0)

            // The ingress (127.0.0.0/8 here) is trusted: each device has its own record, and 60 new
            // addresses (past MR_VENDING_MAX_CALLERS) evict those that failed once, not the caller
            // out of failures.
            let (proxied, url) = try await start([
                "MR_VENDING_TRUSTED_PROXIES": "127.0.0.0/8", "MR_VENDING_MAX_CALLERS": "20",
            ])
            #expect(try await fail(url, from: "203.0.113.1") == 401)
            #expect(try await fail(url, from: "203.0.113.1") == 401)
            #expect(try await fail(url, from: "203.0.113.1") == 429)
            #expect(try await fail(url, from: "203.0.113.2") == 401, "another device is not charged")
            for index in 0..<60 { _ = try await fail(url, from: "198.51.100.\(index)") }
            #expect(try await fail(url, from: "203.0.113.1") == 429, "the record survived the spray")
            proxied.signal(SIGTERM)
            #expect(await proxied.exitStatus() == 0)
        }
    }

    @Test(
        "TokenFileCredential against the running sidecar: waits for the first token, follows rotations in every format, never returns an expired token"
    )
    func tokenFileCredentialFollowsTheSidecar() async throws {
        try await withSidecar(stsLifetime: 2) { harness in
            var account = harness.defaultAccount
            let json = harness.directory.appending(path: "out/anchors.json").path
            let env = harness.directory.appending(path: "out/anchors.env").path
            account.extra = """
                    outputs:
                      - {path: \(json), format: json}
                      - {path: \(env), format: env}
                """
            try harness.writeConfig([account], refresh: "  at: 0.5\n  jitter: 0")
            // Created before the sidecar runs: the first call waits for the first token.
            let credentials = [harness.output("anchors"), json, env].map {
                TokenFileCredential(path: $0, wait: .seconds(30), minimumValidity: .milliseconds(200))
            }
            let sidecar = try harness.start()
            var seen: [Set<String>] = Array(repeating: [], count: credentials.count)
            while seen.contains(where: { $0.count < 3 }) {
                for (index, credential) in credentials.enumerated() {
                    let token = try await credential.token()
                    let expiresOn = try JWTExpiry.expiry(of: token.token)
                    #expect(expiresOn == token.expiresOn)
                    #expect(expiresOn.timeIntervalSinceNow > 0, "an expired token was returned")
                    seen[index].insert(token.token)
                }
                // Until the next write: the sidecar's log says so.
                let writes = sidecar.standardError.components(separatedBy: #""msg":"token refreshed""#).count
                #expect(await sidecar.waitForStandardError(#""msg":"token refreshed""#, count: writes))
            }
            sidecar.signal(SIGTERM)
            #expect(await sidecar.exitStatus() == 0)

            // The sidecar is gone; its last token expires within 2 s, and then nothing is returned.
            let late = TokenFileCredential(path: json, wait: .seconds(3), minimumValidity: .milliseconds(200))
            let last = try await late.token()
            try await Task.sleep(for: .seconds(max(0, last.expiresOn.timeIntervalSinceNow)))
            await #expect(throws: TokenFileError.self) { try await late.token() }
        }
    }

    @Test(
        "TokenFileCredential: no file, then a partial file: it waits for the whole token; garbage, an expired token or a FIFO: it fails naming the file; the STS client passes its token through",
        .timeLimit(.minutes(2)))
    func tokenFileCredentialWaitsAndFails() async throws {
        try await withEmulator { fixture in
            try await withTemporaryDirectory { directory in
                let path = directory.appending(path: "token").path
                let credential = TokenFileCredential(path: path, wait: .seconds(10))
                let token = try fixture.emulator.mintMixedRealityToken(
                    accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                    lifetime: 3600)
                async let waited = credential.token()
                // A half-written token is not a token; the complete file, renamed in, is.
                try String(token.prefix(40)).write(toFile: path, atomically: false, encoding: .utf8)
                try (token + "\n").write(toFile: path + ".tmp", atomically: false, encoding: .utf8)
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
                let whole = try await waited.token == token
                #expect(whole, "the whole token, once renamed in")
                // A Mixed Reality client given the file passes its token through: no STS call.
                let client = try MixedRealityStsClient(
                    accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                    credential: credential,
                    options: MixedRealityStsClientOptions(customEndpointURL: fixture.baseURL.absoluteString))
                let passedThrough = try await client.getToken().token == token
                #expect(passedThrough, "the file's token, unchanged")
                #expect(fixture.emulator.requests.isEmpty)

                try "not a token".write(toFile: path, atomically: true, encoding: .utf8)
                let impatient = TokenFileCredential(path: path, wait: .milliseconds(300))
                let error = await #expect(throws: TokenFileError.self) { try await impatient.token() }
                #expect(error?.message.contains(path) == true)

                // An expired token is never returned.
                let expired = try fixture.emulator.mintMixedRealityToken(
                    accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                    lifetime: -10)
                try expired.write(toFile: path, atomically: true, encoding: .utf8)
                await #expect(throws: TokenFileError.self) { try await impatient.token() }

                // A FIFO in its place is not waited on for a writer: the credential fails in time.
                try FileManager.default.removeItem(atPath: path)
                #expect(mkfifo(path, 0o600) == 0)
                let started = ContinuousClock.now
                await #expect(throws: TokenFileError.self) { try await impatient.token() }
                #expect(ContinuousClock.now - started < .seconds(5), "within its wait, not blocked on the FIFO")
            }
        }
    }

    @Test(
        "MixedRealityTokenCredential: one STS call for many concurrent callers, the cached token until 5 minutes before expiry, a failure retried at the next call; Mixed Reality token sources pass through"
    )
    func mixedRealityTokenCredential() async throws {
        try await withEmulator(configure: { $0.stsTokenLifetimeSeconds = 3600 }) { fixture in
            let now = Mutex(Date())
            let client = try MixedRealityStsClient(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: try AzureKeyCredential(fixture.identities.accountKey),
                options: MixedRealityStsClientOptions(
                    customEndpointURL: fixture.baseURL.absoluteString, pipeline: fixture.pipelineOptions))
            let credential = MixedRealityTokenCredential(client: client, now: { now.withLock { $0 } })
            let context = TokenRequestContext(scopes: ["https://sts.mixedreality.azure.com//.default"])
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await credential.getToken(for: context, logger: AzureLogging.disabledLogger).token
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1)
            #expect(fixture.emulator.requests.filter { $0.endpoint == .sts }.count == 1)

            // 54 minutes later the token still has 6 minutes: cached. At 56, it is replaced.
            now.withLock { $0 = $0.addingTimeInterval(54 * 60) }
            _ = try await credential.getToken(for: context, logger: AzureLogging.disabledLogger)
            #expect(fixture.emulator.requests.filter { $0.endpoint == .sts }.count == 1)
            now.withLock { $0 = $0.addingTimeInterval(2 * 60) }
            fixture.emulator.inject(Fault(endpoint: .sts, status: 401))
            await #expect(throws: MixedRealityAuthenticationError.self) {
                try await credential.getToken(for: context, logger: AzureLogging.disabledLogger)
            }
            let replaced = try await credential.getToken(for: context, logger: AzureLogging.disabledLogger)
            let isNew = !tokens.contains(replaced.token)
            #expect(isNew, "a new token after the refresh margin")
            #expect(fixture.emulator.requests.filter { $0.endpoint == .sts }.count == 3)

            // A ready token passes through the factory as it is.
            let ready = StaticTokenCredential(replaced)
            let passed = try MixedRealityTokenCredential.credential(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: ready)
            #expect(passed is StaticTokenCredential)
            let file = try MixedRealityTokenCredential.credential(
                accountId: fixture.identities.accountId, accountDomain: fixture.identities.accountDomain,
                credential: TokenFileCredential(path: "/nonexistent/token"))
            #expect(file is TokenFileCredential)
        }
    }
}
