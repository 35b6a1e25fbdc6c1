@testable import AzureCore
import Foundation
import Logging
import NIOHTTP1
import TestSupport
import Testing
@testable import AzureIdentity
@testable import MixedRealityAuthentication
@testable import TokenSidecar

/// A seeded mutational fuzzer: inputs are grown from valid seeds by byte flips, insertions of
/// tokens that matter to the parser, deletions and duplications, plus pure noise. Every input must
/// be answered (a value or an error), none may crash, and none may take long (`slowest` is
/// reported; over 2 s fails). Counts: `MR_RELIABILITY=full` runs 1,000,000 inputs in all.
struct Fuzzer {
    var generator: SeededGenerator
    let seeds: [[UInt8]]
    let dictionary: [[UInt8]]

    init(seed: UInt64, seeds: [String], dictionary: [String]) {
        generator = SeededGenerator(state: seed)
        self.seeds = seeds.map { Array($0.utf8) }
        self.dictionary = dictionary.map { Array($0.utf8) }
    }

    mutating func next() -> [UInt8] {
        if Int.random(in: 0..<20, using: &generator) == 0 {
            return (0..<Int.random(in: 0...512, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        var bytes = seeds.randomElement(using: &generator) ?? []
        for _ in 0..<Int.random(in: 1...6, using: &generator) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<6, using: &generator) {
            case 0 where position < bytes.count:
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            case 1:
                bytes.insert(contentsOf: dictionary.randomElement(using: &generator) ?? [], at: position)
            case 2 where position < bytes.count:
                let end = min(bytes.count, position + Int.random(in: 1...32, using: &generator))
                bytes.removeSubrange(position..<end)
            case 3 where position < bytes.count:
                let end = min(bytes.count, position + Int.random(in: 1...64, using: &generator))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 4:
                bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
            default:
                bytes.insert(contentsOf: dictionary.randomElement(using: &generator) ?? [], at: bytes.count)
            }
        }
        return bytes
    }
}

/// Runs `count` inputs through `body`; returns the slowest input's time.
func fuzz(_ fuzzer: inout Fuzzer, count: Int, _ body: ([UInt8]) -> Void) -> Duration {
    var slowest = Duration.zero
    let clock = ContinuousClock()
    for _ in 0..<count {
        let input = fuzzer.next()
        let elapsed = clock.measure { body(input) }
        if elapsed > slowest { slowest = elapsed }
    }
    return slowest
}

@Suite("Fuzzing the parsers: config, JWT, STS, Entra, AdmissionReview")
struct FuzzTests {
    static let jwt = [
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhaWQiOiI2YThiMGMzZS0xMTExLTQyMjItODMzMy05NDQ0NTU1NTY2NjYiLCJleHAiOjE4MDAwMDAwMDAsImlhdCI6MTc5OTkxMzYwMH0.c2ln",
        "e30.eyJleHAiOiIxODAwMDAwMDAwIn0.x",
    ]

    func report(_ name: String, inputs: Int, slowest: Duration) {
        #expect(slowest < .seconds(2), "\(name): an input took \(slowest)")
        Reliability.report("fuzz-\(name)", ["inputs": inputs, "slowestMs": String(format: "%.2f", milliseconds(slowest))])
    }

    @Test("The YAML config loader answers every input with a config or a ConfigError")
    func config() throws {
        let seed = """
            accounts:
              - name: anchors
                accountId: 6a8b0c3e-1111-4222-8333-944455556666
                accountDomain: eastus2.mixedreality.azure.com
                credential: {type: accountKey, keyFile: /etc/mr/key}
                output:
                  path: /var/run/mixedreality/anchors.token
                  format: json
                  mode: "0440"
                notify: {httpPost: "http://127.0.0.1:8080/x"}
              - &second
                name: rendering
                accountId: 0b7d9e2a-3c4f-4a5b-8c6d-7e8f90a1b2c3
                accountDomain: westeurope.mixedreality.azure.com
                credential: {type: clientSecret, tenantId: t, clientId: 0f2c6c6e-7a1d-4c1e-9a3f-5c2a3b4d5e6f, secretFile: /s}
                output: {path: /var/run/mixedreality/r.token}
            refresh: {at: 0.5, jitter: 0.1, minBackoff: 1s, maxBackoff: 5m, maxConcurrent: 8}
            server: {address: "0.0.0.0:8787", readyMinValidity: 5m}
            log: {level: info, format: json}
            """
        var fuzzer = Fuzzer(
            seed: 11, seeds: [seed],
            dictionary: [
                ":", ": ", "- ", "{", "}", "[", "]", ",", "&a ", "*a", "*second", "<<: *second\n", "!!binary ", "!!int ", "\n",
                "\n  ", "\t", "'", "\"", "#", "%YAML 1.1\n", "---\n", "...\n", "? ", "|\n", ">\n", "~", "null", "0x1F",
                "1e999", "-1", "0440", "440", "99999999999999999999", "1s", "1m30s", "5", "true", "\\u0000", "\u{0}",
                "accounts", "credential", "type", "output", "mode", "refresh", "server", "tls", "caFile", "é", "🦀",
            ])
        let count = Reliability.count(ci: 20_000, full: 300_000)
        let slowest = fuzz(&fuzzer, count: count) { input in
            do {
                _ = try ConfigLoader.parse(String(decoding: input, as: UTF8.self), file: "fuzz.yaml", environment: [:])
            } catch let error as ConfigError {
                #expect(!error.issues.isEmpty)
            } catch {
                Issue.record("not a ConfigError: \(error)")
            }
        }
        report("config", inputs: count, slowest: slowest)
    }

    @Test("Alias bombs (billion laughs) are refused quickly, not expanded")
    func aliasBomb() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<12 {
            yaml += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        yaml += "accounts: *a11\n"
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml, file: "bomb.yaml", environment: [:]) }
        }
        #expect(elapsed < .seconds(2))
    }

    @Test("The JWT parser answers every input with claims or a ParseError")
    func jwt() {
        var fuzzer = Fuzzer(
            seed: 12, seeds: Self.jwt,
            dictionary: [".", "..", "=", "-", "_", "+", "/", "eyJ", "e30", "eyJleHAiOiJ4In0", "eyJleHAiOjFlOTk5fQ", "AAAA", " "])
        let count = Reliability.count(ci: 50_000, full: 300_000)
        let slowest = fuzz(&fuzzer, count: count) { input in
            _ = try? JWTExpiry.claims(of: String(decoding: input, as: UTF8.self))
        }
        report("jwt", inputs: count, slowest: slowest)
    }

    @Test("The STS answer interpreter answers every status, header and body with a token or an error")
    func sts() throws {
        let client = try MixedRealityStsClient(
            accountId: "6a8b0c3e-1111-4222-8333-944455556666", accountDomain: "eastus2.mixedreality.azure.com",
            credential: try AzureKeyCredential("fuzz-key"),
            options: MixedRealityStsClientOptions(customEndpointURL: "https://127.0.0.1:9"))
        var fuzzer = Fuzzer(
            seed: 13, seeds: Self.jwt.map { #"{"AccessToken":"\#($0)"}"# } + [#"{"error":"x","message":"y"}"#, "<html>503</html>"],
            dictionary: [#"""#, "{", "}", ":", ",", "null", "[]", "1e309", #"\u0000"#, #"\""#, "AccessToken", " "])
        var statuses = SeededGenerator(state: 14)
        let count = Reliability.count(ci: 20_000, full: 150_000)
        let slowest = fuzz(&fuzzer, count: count) { input in
            let status = [200, 200, 200, 400, 401, 403, 429, 500, 503, Int.random(in: 0...999, using: &statuses)]
                .randomElement(using: &statuses)!
            var headers = HTTPHeaders()
            headers.add(name: "MS-CV", value: String(decoding: input.prefix(40), as: UTF8.self))
            headers.add(name: "WWW-Authenticate", value: String(decoding: input.suffix(40), as: UTF8.self))
            let response = PipelineResponse(status: status, headers: headers, body: input, tries: 1, retryAfter: nil)
            _ = try? client.interpret(response, correlationVector: "fuzz")
        }
        report("sts", inputs: count, slowest: slowest)
    }

    @Test("The Entra and managed identity answer parser answers every status and body with a token or an error")
    func entra() throws {
        let parser = TokenResponseParser(credential: "ClientSecretCredential", correlationId: nil)
        var fuzzer = Fuzzer(
            seed: 15,
            seeds: [
                #"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"refresh_in":1799,"access_token":"eyJ0eXAi.x.y"}"#,
                #"{"access_token":"a","expires_on":"1800000000","resource":"r","token_type":"Bearer"}"#,
                #"{"error":"invalid_client","error_description":"AADSTS700024: Client assertion is not within its valid time range.","error_codes":[700024]}"#,
            ],
            dictionary: [#"""#, "{", "}", ":", ",", "null", "-1", "1e309", "\"3599\"", "[", "]", "AADSTS", "expires_in", " "])
        var statuses = SeededGenerator(state: 16)
        let count = Reliability.count(ci: 20_000, full: 150_000)
        let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        let slowest = fuzz(&fuzzer, count: count) { input in
            let status = [200, 200, 400, 401, 500, Int.random(in: 0...999, using: &statuses)].randomElement(using: &statuses)!
            let response = PipelineResponse(status: status, headers: HTTPHeaders(), body: input, tries: 1, retryAfter: nil)
            _ = try? parser.parse(response, requestedAt: Date(), logger: logger, halfLifeRefresh: Bool.random(using: &statuses))
        }
        report("entra", inputs: count, slowest: slowest)
    }

    @Test("The webhook answers every AdmissionReview body with 200 or 400")
    func admission() throws {
        let pods = try ["plain", "workload-identity", "job", "several-containers", "bad-annotation"].map {
            String(decoding: AdmissionFixtures.review(try AdmissionFixtures.pod($0)), as: UTF8.self)
        }
        var fuzzer = Fuzzer(
            seed: 17, seeds: pods,
            dictionary: [#"""#, "{", "}", ":", ",", "null", "[]", "{}", "mixedreality.azure.com/", "containers", "-", "~1", " "])
        let handler = AdmissionHandler(injector: Injector(settings: AdmissionFixtures.settings))
        let count = Reliability.count(ci: 10_000, full: 100_000)
        let slowest = fuzz(&fuzzer, count: count) { input in
            let answer = handler.answer(input)
            #expect(answer.status == 200 || answer.status == 400)
        }
        report("admission", inputs: count, slowest: slowest)
    }
}
