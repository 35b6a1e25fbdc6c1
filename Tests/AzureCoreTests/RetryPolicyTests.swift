import Foundation
import Logging
import NIOHTTP1
import TestSupport
import Testing

@testable import AzureCore

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("defaults follow the Decisions table")
    func defaults() {
        let options = RetryOptions()
        #expect(options.maxRetries == 3)
        #expect(options.initialDelay == .milliseconds(800))
        #expect(options.maxDelay == .seconds(60))
        #expect(options.retriableStatuses == [408, 429, 500, 502, 503, 504])
    }

    @Test("exponential ceilings double from 0.8 s and stop at the cap")
    func exponential() {
        let ceilings = (0..<10).map {
            RetryOptions.exponential(base: .milliseconds(800), attempt: $0, cap: .seconds(60))
        }
        #expect(
            ceilings == [
                .milliseconds(800), .milliseconds(1600), .milliseconds(3200), .milliseconds(6400), .milliseconds(12800),
                .milliseconds(25600), .milliseconds(51200), .seconds(60), .seconds(60), .seconds(60),
            ])
        #expect(RetryOptions.exponential(base: .seconds(1), attempt: 10_000, cap: .seconds(5)) == .seconds(5))
    }

    @Test("full jitter: every delay lies in 0...ceiling and the draws spread over it")
    func fullJitter() {
        var generator = SeededGenerator(state: 42)
        let options = RetryOptions()
        for retry in 0..<8 {
            let ceiling = RetryOptions.exponential(base: options.initialDelay, attempt: retry, cap: options.maxDelay)
            let draws = (0..<2000).map { _ in options.backoff(retry: retry, using: &generator) }
            #expect(draws.allSatisfy { $0 >= .zero && $0 <= ceiling })
            #expect(draws.min()! < ceiling / 10)
            #expect(draws.max()! > ceiling * 9 / 10)
        }
    }
}

@Suite("Retry-After parsing")
struct RetryAfterTests {
    static let now = Date(timeIntervalSince1970: 784_111_777 - 10)  // 10 s before Sun, 06 Nov 1994 08:49:37 GMT

    @Test(
        "seconds, the three HTTP-date forms and the millisecond headers",
        arguments: [
            ([("Retry-After", "2")], Duration.seconds(2)),
            ([("Retry-After", " 5 ")], .seconds(5)),
            ([("Retry-After", "0")], .zero),
            ([("Retry-After", "-3")], .zero),
            ([("Retry-After", "Sun, 06 Nov 1994 08:49:37 GMT")], .seconds(10)),
            ([("Retry-After", "Sunday, 06-Nov-94 08:49:37 GMT")], .seconds(10)),
            ([("Retry-After", "Sun Nov  6 08:49:37 1994")], .seconds(10)),
            ([("Retry-After", "Sat, 05 Nov 1994 08:49:37 GMT")], .zero),
            ([("retry-after-ms", "1500"), ("Retry-After", "9")], .milliseconds(1500)),
            ([("x-ms-retry-after-ms", "250"), ("Retry-After", "9")], .milliseconds(250)),
        ] as [([(String, String)], Duration)])
    func parses(headers: [(String, String)], expected: Duration) {
        #expect(RetryAfter.parse(HTTPHeaders(headers), now: Self.now) == expected)
    }

    @Test("garbage and absence give nil", arguments: ["soon", "", "Sun, 32 Nov 1994 08:49:37 GMT", "12:00:00"])
    func garbage(value: String) {
        #expect(RetryAfter.parse(HTTPHeaders([("Retry-After", value)]), now: Self.now) == nil)
        #expect(RetryAfter.parse(HTTPHeaders(), now: Self.now) == nil)
    }

    @Test("civil dates convert exactly")
    func civilDays() {
        #expect(HTTPDate.civilDays(year: 1970, month: 1, day: 1) == 0)
        #expect(HTTPDate.civilDays(year: 2000, month: 3, day: 1) == 11017)
        #expect(HTTPDate.parse("Thu, 01 Jan 1970 00:00:00 GMT") == Date(timeIntervalSince1970: 0))
        #expect(HTTPDate.parse("Fri, 31 Dec 9999 23:59:59 GMT") == Date(timeIntervalSince1970: 253_402_300_799))
    }
}

@Suite("Core types")
struct CoreTypesTests {
    @Test("log sanitizer keeps allow-listed headers and query parameters only")
    func sanitizer() throws {
        let sanitizer = LogSanitizer()
        let headers = HTTPHeaders([
            ("Authorization", "Bearer id:key"), ("X-MRC-CV", "abc"), ("Cookie", "c=1"), ("X-IDENTITY-HEADER", "s"),
            ("User-Agent", "ua"),
        ])
        #expect(
            sanitizer.sanitize(headers: headers)
                == "Authorization: REDACTED, X-MRC-CV: abc, Cookie: REDACTED, X-IDENTITY-HEADER: REDACTED, User-Agent: ua"
        )
        let url = try #require(URL(string: "https://user:pw@h.example/p?api-version=1&client_secret=s&resource=r#f"))
        #expect(sanitizer.sanitize(url: url) == "https://h.example/p?api-version=1&client_secret=REDACTED&resource=r")
    }

    @Test("AZURE_LOG_LEVEL maps as in the Azure SDKs")
    func azureLogLevel() {
        #expect(AzureLogging.levelFromEnvironment(["AZURE_LOG_LEVEL": "verbose"]) == .debug)
        #expect(AzureLogging.levelFromEnvironment(["AZURE_LOG_LEVEL": "INFO"]) == .info)
        #expect(AzureLogging.levelFromEnvironment(["AZURE_LOG_LEVEL": "warning"]) == .warning)
        #expect(AzureLogging.levelFromEnvironment(["AZURE_LOG_LEVEL": "error"]) == .error)
        #expect(AzureLogging.levelFromEnvironment(["AZURE_LOG_LEVEL": "loud"]) == nil)
        #expect(AzureLogging.levelFromEnvironment([:]) == nil)
    }

    @Test("descriptions never show a token or key")
    func redactedDescriptions() throws {
        let token = AccessToken(token: "secret.token.value", expiresOn: Date(timeIntervalSince1970: 0))
        expectNoSecret(["secret.token.value"], in: "\(token)", "the token's description")
        expectNoSecret(["secret.token.value"], in: "\(StaticTokenCredential(token))", "the credential's description")
        let key = try AzureKeyCredential("k3y-value")
        expectNoSecret(["k3y-value"], in: "\(key)", "the key's description")
        #expect(key.key == "k3y-value")
        #expect(throws: AzureCoreError.self) { try AzureKeyCredential("") }
    }

    @Test("base64url round-trips and accepts padded standard base64")
    func base64URL() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF, 0x00, 0x01]
        let encoded = Base64URL.encode(bytes)
        #expect(encoded == "-_-_AAE")
        #expect(Base64URL.decode(encoded) == bytes)
        #expect(Base64URL.decode("+/+/AAE=") == bytes)
        #expect(Base64URL.decode("-_+/") == nil)
        #expect(Base64URL.decode("AAE=x") == nil)
        #expect(Base64URL.decode("AAE===") == nil)
        #expect(Base64URL.decode("A") == nil)
        #expect(Base64URL.decode("AA*A") == nil)
        #expect(Base64URL.decode("AA\u{e9}A") == nil)
        #expect(Base64URL.decode("") == [])
        // Every length and every byte value, against Foundation's standard base64.
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let random = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let standard = Data(random).base64EncodedString()
            let url = Base64URL.encode(random)
            #expect(
                url
                    == standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                    .replacingOccurrences(of: "=", with: ""))
            #expect(Base64URL.decode(url) == random)
            #expect(Base64URL.decode(standard) == random)
            #expect(Base64URL.decode(standard.replacingOccurrences(of: "=", with: "")) == random)
            if standard.hasSuffix("==") { #expect(Base64URL.decode(standard.dropLast()) == nil) }  // half padded
        }
    }
}
