import Crypto
import Foundation
import NIOHTTP1
@testable import STSEmulator
import SwiftASN1
import TestSupport
import X509
import _CryptoExtras

extension EmulatorFixture {
    var stsURL: String { "\(baseURL.absoluteString)/Accounts/\(identities.accountId)/token?api-version=2019-02-28-preview" }
    var tokenURL: String { "\(baseURL.absoluteString)/\(identities.tenantId)/oauth2/v2.0/token" }

    func sts(
        authorization: String? = nil, cv: String = "AAAAAAAAAAAAAAAAAAAAAA", accept: String? = "application/json",
        url: String? = nil
    ) async throws -> RawResponse {
        var headers: [(String, String)] = [("X-MRC-CV", cv)]
        if let accept { headers.append(("Accept", accept)) }
        headers.append(("Authorization", authorization ?? "Bearer \(identities.accountId):\(identities.accountKey)"))
        return try await rawRequest(.GET, url ?? stsURL, caFile: caFile, headers: headers)
    }

    func entra(_ fields: [(String, String)], tenant: String? = nil) async throws -> RawResponse {
        try await rawRequest(
            .POST, tenant.map { "\(baseURL.absoluteString)/\($0)/oauth2/v2.0/token" } ?? tokenURL, caFile: caFile,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("client-request-id", "corr-123")],
            body: formEncode(fields))
    }

    func clientCredentials(_ credential: [(String, String)], scope: String = "https://sts.mixedreality.azure.com//.default")
        -> [(String, String)]
    {
        [("client_id", identities.clientId), ("grant_type", "client_credentials"), ("scope", scope)] + credential
    }

    func assertionFields(_ assertion: String) -> [(String, String)] {
        [("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", assertion)]
    }
}

/// The AADSTS code of an Entra error answer.
func aadsts(_ response: RawResponse) throws -> Int? {
    (try response.json()["error_codes"] as? [Int])?.first
}

/// A self-signed certificate and its key, as an Entra app registration would hold.
struct TestCertificate {
    enum Key {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }
    let certificate: Certificate
    let key: Key

    static func rsa() throws -> TestCertificate {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        return try TestCertificate(
            key: .rsa(key), publicKey: Certificate.PublicKey(key.publicKey), signer: Certificate.PrivateKey(key),
            algorithm: .sha256WithRSAEncryption)
    }

    static func p256() throws -> TestCertificate {
        let key = P256.Signing.PrivateKey()
        return try TestCertificate(
            key: .p256(key), publicKey: Certificate.PublicKey(key.publicKey), signer: Certificate.PrivateKey(key),
            algorithm: .ecdsaWithSHA256)
    }

    init(
        key: Key, publicKey: Certificate.PublicKey, signer: Certificate.PrivateKey,
        algorithm: Certificate.SignatureAlgorithm
    ) throws {
        let name = try DistinguishedName { CommonName("test app") }
        self.key = key
        self.certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey, notValidBefore: Date().addingTimeInterval(-60),
            notValidAfter: Date().addingTimeInterval(86400), issuer: name, subject: name,
            signatureAlgorithm: algorithm, extensions: Certificate.Extensions(),
            issuerPrivateKey: signer)
    }

    var pem: String { get throws { try certificate.serializeAsPEM().pemString } }
    var der: [UInt8] { get throws { try certificate.serializeAsPEM().derBytes } }

    /// A client assertion signed with this certificate's key.
    func assertion(
        audience: String, clientId: String, alg: String = "PS256", thumbprint: String = "x5t#S256",
        thumbprintOf other: TestCertificate? = nil, lifetime: TimeInterval = 600, jti: String = UUID().uuidString,
        signWith signer: TestCertificate? = nil
    ) throws -> String {
        let der = try (other ?? self).der
        let print = thumbprint == "x5t" ? B64URL.encode(Array(Insecure.SHA1.hash(data: der))) : B64URL.encode(Array(SHA256.hash(data: der)))
        let now = Date().timeIntervalSince1970
        let header: [String: JSONValue] = ["alg": .string(alg), "typ": "JWT", thumbprint: .string(print)]
        let claims: [String: JSONValue] = [
            "aud": .string(audience), "iss": .string(clientId), "sub": .string(clientId), "jti": .string(jti),
            "nbf": .int(Int64(now)), "iat": .int(Int64(now)), "exp": .int(Int64(now + lifetime)),
        ]
        let input = B64URL.encode(JSON.encode(header)) + "." + B64URL.encode(JSON.encode(claims))
        let signature: [UInt8]
        switch (signer ?? self).key {
        case .rsa(let key):
            signature = Array(
                try key.signature(for: Array(input.utf8), padding: alg == "RS256" ? .insecurePKCS1v1_5 : .PSS).rawRepresentation)
        case .p256(let key):
            signature = Array(try key.signature(for: Array(input.utf8)).rawRepresentation)
        }
        return input + "." + B64URL.encode(signature)
    }
}
