import Foundation
import TestSupport
import Testing

@testable import MixedRealityAuthentication

@Suite("JWT expiry (protocol §3 vectors)")
struct JWTExpiryTests {
    static let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"

    static func base64(_ json: String, url: Bool, padded: Bool) -> String {
        var text = Data(json.utf8).base64EncodedString()
        if url { text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") }
        if !padded { text = text.replacingOccurrences(of: "=", with: "") }
        return text
    }

    @Test("exp as a numeric string, padded and unpadded payload (JS/PY vectors)")
    func stringExp() throws {
        let json = #"{"exp":"1610898650"}"#
        let padded = Self.base64(json, url: false, padded: true)
        #expect(padded.hasSuffix("="), "the vector must exercise padding")
        for payload in [padded, Self.base64(json, url: false, padded: false)] {
            let token = "\(Self.header).\(payload)."
            #expect(try JWTExpiry.expiry(of: token) == Date(timeIntervalSince1970: 1_610_898_650))
        }
    }

    @Test("exp as a number; the PY recording's fake token")
    func numberExp() throws {
        #expect(
            try JWTExpiry.expiry(of: "fake.eyJleHAiOjIxNDc0ODM2NDd9.fake") == Date(timeIntervalSince1970: 2_147_483_647)
        )
        let payload = Self.base64(#"{"exp":1700000000,"iat":1699913600}"#, url: true, padded: false)
        #expect(try JWTExpiry.expiry(of: "\(Self.header).\(payload).sig") == Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test("base64url payloads with - and _ decode, as do their standard-alphabet twins")
    func base64URLAlphabet() throws {
        let json = #"{"exp":1610898650,"note":"~~~???>>>~?>"}"#
        let url = Self.base64(json, url: true, padded: false)
        let standard = Self.base64(json, url: false, padded: true)
        #expect(url.contains("-") || url.contains("_"), "the vector must exercise the url alphabet")
        #expect(standard.contains("+") || standard.contains("/"))
        for payload in [url, standard] {
            #expect(
                try JWTExpiry.expiry(of: "\(Self.header).\(payload).x") == Date(timeIntervalSince1970: 1_610_898_650))
        }
        #expect(throws: JWTExpiry.ParseError.self) { try JWTExpiry.expiry(of: "\(Self.header).eyJl-_+/.x") }
    }

    @Test(
        "structural failures are clear errors that never quote the token",
        arguments: [
            ("Sanitized", "not a JWT"),
            ("asdfasdfasdf", "not a JWT"),
            ("\(JWTExpiryTests.header).eyJleHAiOjF9", "not a JWT"),
            ("\(JWTExpiryTests.header)..sig", "payload (second part) is empty"),
            ("", "empty"),
            ("a.!!!!.b", "neither base64url nor base64"),
            ("a.\(JWTExpiryTests.base64("[1,2]", url: true, padded: false)).b", "not a JSON object"),
            ("a.\(JWTExpiryTests.base64(#"{"iat":1}"#, url: true, padded: false)).b", "no exp"),
            ("a.\(JWTExpiryTests.base64(#"{"exp":"soon"}"#, url: true, padded: false)).b", "not a number"),
            ("a.\(JWTExpiryTests.base64(#"{"exp":true}"#, url: true, padded: false)).b", "neither a number"),
            ("a.\(JWTExpiryTests.base64(#"{"exp":-5}"#, url: true, padded: false)).b", "plausible"),
        ]
    )
    func failures(token: String, expected: String) {
        do {
            _ = try JWTExpiry.expiry(of: token)
            Issue.record("\(token.prefix(20)) was accepted")
        } catch {
            #expect(error.reason.contains(expected), "\(error.reason)")
            if token.count > 12 { expectNoSecret([token], in: error.reason, "the reason") }
        }
    }
}

@Suite("X-MRC-CV")
struct CorrelationVectorTests {
    @Test("22 characters of the standard base64 alphabet, fresh each time")
    func shape() {
        let values = (0..<2000).map { _ in CorrelationVector.generate() }
        for value in values {
            #expect(value.count == 22)
            #expect(value.allSatisfy { CorrelationVector.alphabet.contains($0) })
        }
        #expect(Set(values).count == values.count)
        let used = Set(values.joined())
        #expect(used.count == 64, "every alphabet character should appear in 44,000 draws")
    }
}
