import AzureCore
import Foundation
import NIOHTTP1
import TestSupport
import Testing
import _CryptoExtras

@testable import STSEmulator

@Suite("Emulator: Mixed Reality STS endpoint")
struct STSEndpointTests {
    @Test("a good account-key request gets a 24 h RS256 JWT shaped like the real one")
    func success() async throws {
        try await withEmulator { fixture in
            let response = try await fixture.sts()
            #expect(response.status == 200)
            #expect(response.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
            #expect(response.headers.first(name: "Cache-Control") == "no-store, no-cache")
            let msCV = try #require(response.headers.first(name: "MS-CV"))
            #expect(msCV.count == 24 && msCV.hasSuffix(".0"))
            let token = try #require(try response.json()["AccessToken"] as? String)
            let jwt = try ParsedJWT(token)
            #expect(jwt.header["alg"] == "RS256")
            #expect(jwt.header["typ"] == "JWT")
            #expect(jwt.header["kid"] != nil && jwt.header["x5t"] != nil)
            #expect(jwt.verify(rsa: try JWTIssuerKey.sts.get().publicKey))
            #expect(jwt.claims["aid"]?.string == fixture.identities.accountId)
            #expect(jwt.claims["apr"] == "westeurope")
            #expect(jwt.claims["iss"] == "https://sts.westeurope.mixedreality.azure.com/")
            #expect(jwt.claims["aud"] == "https://manage.sa.westeurope.mixedreality.azure.com/")
            #expect(jwt.claims["att"] == "Default")
            #expect(jwt.claims["aao"] == -1)
            for claim in ["jti", "cai", "tid", "rid", "nbf"] { #expect(jwt.claims[claim] != nil, "\(claim)") }
            let lifetime = try #require(jwt.claims["exp"]?.numeric) - (jwt.claims["iat"]?.numeric ?? 0)
            #expect(lifetime == 86400)
            // The Python SDK decodes the payload with plain base64: no - or _ in it.
            let payload = token.split(separator: ".")[1]
            #expect(!payload.contains("-") && !payload.contains("_"))
        }
    }

    @Test(
        "malformed requests get 400 with the reason in WWW-Authenticate",
        arguments: [
            ("api-version", "Invalid request: api-version must be 2019-02-28-preview"),
            ("accept", "Invalid request: Accept must allow application/json"),
            ("cv-short", "Invalid request: X-MRC-CV must be 22 characters of the base64 alphabet"),
            ("cv-alphabet", "Invalid request: X-MRC-CV must be 22 characters of the base64 alphabet"),
            ("path", "Invalid request: the account id in the path is not a UUID"),
        ])
    func badRequests(kind: String, expected: String) async throws {
        try await withEmulator { fixture in
            let response: RawResponse
            switch kind {
            case "api-version":
                response = try await fixture.sts(
                    url: fixture.stsURL.replacingOccurrences(of: "2019-02-28-preview", with: "2020-01-01"))
            case "accept": response = try await fixture.sts(accept: "text/html")
            case "cv-short": response = try await fixture.sts(cv: "AAAA")
            case "cv-alphabet": response = try await fixture.sts(cv: "AAAAAAAAAAAAAAAAAAAAA-")
            default:
                response = try await fixture.sts(
                    url: "\(fixture.baseURL.absoluteString)/Accounts/nope/token?api-version=2019-02-28-preview")
            }
            #expect(response.status == 400)
            #expect(response.headers.first(name: "WWW-Authenticate") == expected)
            #expect(response.headers.first(name: "MS-CV") != nil)
            #expect(fixture.emulator.requests.last?.reason == String(expected.split(separator: ": ", maxSplits: 1)[1]))
        }
    }

    @Test(
        "wrong credentials get 401 with the reason",
        arguments: [
            (
                "Bearer 00000000-0000-0000-0000-000000000000:k",
                "Invalid token: the bearer value is neither <accountId>:<key> nor a JWT"
            ),
            ("Bearer ID:wrong", "Invalid token: wrong account key"),
            ("Basic abc", "Invalid token: no bearer token"),
            ("Bearer a.b.c", "Invalid token: the bearer token is not a well-formed JWT"),
        ])
    func unauthorized(authorization: String, expected: String) async throws {
        try await withEmulator { fixture in
            let response = try await fixture.sts(
                authorization: authorization.replacingOccurrences(of: "ID", with: fixture.identities.accountId))
            #expect(response.status == 401)
            #expect(response.headers.first(name: "WWW-Authenticate") == expected)
        }
    }

    @Test("an unknown account is unauthorized")
    func unknownAccount() async throws {
        try await withEmulator { fixture in
            let other = UUID().uuidString.lowercased()
            let response = try await fixture.sts(
                authorization: "Bearer \(other):k",
                url: "\(fixture.baseURL.absoluteString)/Accounts/\(other)/token?api-version=2019-02-28-preview")
            #expect(response.status == 401)
            #expect(response.headers.first(name: "WWW-Authenticate") == "Invalid token: unknown account")
        }
    }

    @Test("the certificate is valid for 127.0.0.1 and localhost and chains to the written CA")
    func certificate() async throws {
        try await withEmulator { fixture in
            let pem = try String(contentsOfFile: fixture.caFile, encoding: .utf8)
            #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
            #expect(pem == (try fixture.emulator.caCertificatePEM))
            let localhost = fixture.stsURL.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            #expect(try await fixture.sts(url: localhost).status == 200)
            await #expect(throws: (any Error).self) {
                _ = try await rawRequest(.GET, fixture.stsURL, caFile: nil)
            }
        }
    }

    @Test("a non-loopback host or a bad account is a configuration error naming the key")
    func configurationValidation() throws {
        var configuration = EmulatorConfiguration(host: "0.0.0.0")
        configuration.accounts = [.init(accountId: "nope", accountKeys: [])]
        let error = #expect(throws: EmulatorError.self) { try configuration.validate() }
        #expect(error?.message.contains("host:") == true)
        #expect(error?.message.contains("accounts[0].accountId") == true)
        #expect(error?.message.contains("accounts[0].accountKeys") == true)
    }

    @Test("the JSON configuration decodes with defaults for every missing key")
    func configurationJSON() throws {
        let json =
            #"{"accounts": [{"accountId": "68321d5a-7978-4ceb-b880-0f49751daae9", "accountKeys": ["k"]}], "stsTokenLifetimeSeconds": 60}"#
        let configuration = try JSONDecoder().decode(EmulatorConfiguration.self, from: Data(json.utf8))
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 0)
        #expect(configuration.stsTokenLifetimeSeconds == 60)
        #expect(configuration.entraTokenLifetimeSeconds == 3600)
        #expect(configuration.accounts.first?.accountKeys == ["k"])
        try configuration.validate()
    }
}
