import Foundation
import Logging
import NIOHTTP1
import TestSupport
import Testing

@testable import AzureCore
@testable import AzureIdentity
@testable import MixedRealityAuthentication

@Suite("Fuzzing the parsers: JWT, STS, Entra", Reliability.heavySuite)
struct FuzzTests {
    static let jwt = [
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhaWQiOiI2YThiMGMzZS0xMTExLTQyMjItODMzMy05NDQ0NTU1NTY2NjYiLCJleHAiOjE4MDAwMDAwMDAsImlhdCI6MTc5OTkxMzYwMH0.c2ln",
        "e30.eyJleHAiOiIxODAwMDAwMDAwIn0.x",
    ]

    @Test("The JWT parser answers every input with claims or a ParseError")
    func jwt() {
        var fuzzer = Fuzzer(
            seed: 12, seeds: Self.jwt,
            dictionary: [
                ".", "..", "=", "-", "_", "+", "/", "eyJ", "e30", "eyJleHAiOiJ4In0", "eyJleHAiOjFlOTk5fQ", "AAAA", " ",
            ])
        let count = Reliability.count(ci: 50_000, full: 300_000)
        let slowest = fuzz(&fuzzer, count: count) { input in
            _ = try? JWTExpiry.claims(of: String(decoding: input, as: UTF8.self))
        }
        reportFuzz("jwt", inputs: count, slowest: slowest)
    }

    @Test("The STS answer interpreter answers every status, header and body with a token or an error")
    func sts() throws {
        let client = try MixedRealityStsClient(
            accountId: "6a8b0c3e-1111-4222-8333-944455556666", accountDomain: "eastus2.mixedreality.azure.com",
            credential: try AzureKeyCredential("fuzz-key"),
            options: MixedRealityStsClientOptions(customEndpointURL: "https://127.0.0.1:9"))
        var fuzzer = Fuzzer(
            seed: 13,
            seeds: Self.jwt.map { #"{"AccessToken":"\#($0)"}"# } + [
                #"{"error":"x","message":"y"}"#, "<html>503</html>",
            ],
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
        reportFuzz("sts", inputs: count, slowest: slowest)
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
            dictionary: [
                #"""#, "{", "}", ":", ",", "null", "-1", "1e309", "\"3599\"", "[", "]", "AADSTS", "expires_in", " ",
            ])
        var statuses = SeededGenerator(state: 16)
        let count = Reliability.count(ci: 20_000, full: 150_000)
        let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        let slowest = fuzz(&fuzzer, count: count) { input in
            let status = [200, 200, 400, 401, 500, Int.random(in: 0...999, using: &statuses)].randomElement(
                using: &statuses)!
            let response = PipelineResponse(
                status: status, headers: HTTPHeaders(), body: input, tries: 1, retryAfter: nil)
            _ = try? parser.parse(
                response, requestedAt: Date(), logger: logger, halfLifeRefresh: Bool.random(using: &statuses))
        }
        reportFuzz("entra", inputs: count, slowest: slowest)
    }

}
