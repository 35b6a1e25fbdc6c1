import AzureCore
package import Crypto
package import Foundation
import SwiftASN1
package import X509
package import _CryptoExtras

/// A self-signed certificate and its key, as an Entra app registration would hold.
package struct TestCertificate: Sendable {
    package enum Key: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }
    package let certificate: Certificate
    package let key: Key

    /// - Parameter validity: When it is valid (default: from a minute ago for a day).
    package static func rsa(
        validity: ClosedRange<Date> = Date().addingTimeInterval(-60)...Date().addingTimeInterval(86400)
    ) throws -> TestCertificate {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        return try TestCertificate(
            key: .rsa(key), publicKey: Certificate.PublicKey(key.publicKey), signer: Certificate.PrivateKey(key),
            algorithm: .sha256WithRSAEncryption, validity: validity)
    }

    package static func p256() throws -> TestCertificate {
        let key = P256.Signing.PrivateKey()
        return try TestCertificate(
            key: .p256(key), publicKey: Certificate.PublicKey(key.publicKey), signer: Certificate.PrivateKey(key),
            algorithm: .ecdsaWithSHA256)
    }

    init(
        key: Key, publicKey: Certificate.PublicKey, signer: Certificate.PrivateKey,
        algorithm: Certificate.SignatureAlgorithm,
        validity: ClosedRange<Date> = Date().addingTimeInterval(-60)...Date().addingTimeInterval(86400)
    ) throws {
        let name = try DistinguishedName { CommonName("test app") }
        self.key = key
        self.certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey, notValidBefore: validity.lowerBound,
            notValidAfter: validity.upperBound, issuer: name, subject: name,
            signatureAlgorithm: algorithm, extensions: Certificate.Extensions(),
            issuerPrivateKey: signer)
    }

    package var pem: String { get throws { try certificate.serializeAsPEM().pemString } }
    package var der: [UInt8] { get throws { try certificate.serializeAsPEM().derBytes } }

    /// A client assertion signed with this certificate's key (or `signer`'s), through the
    /// project's one JWS signer; `alg` picks PS256 or RS256 for RSA keys.
    package func assertion(
        audience: String, clientId: String, alg: String = "PS256", thumbprint: String = "x5t#S256",
        lifetime: TimeInterval = 600, jti: String = UUID().uuidString,
        signWith signer: TestCertificate? = nil
    ) throws -> String {
        let der = try self.der
        let print =
            thumbprint == "x5t"
            ? Base64URL.encode(Array(Insecure.SHA1.hash(data: der))) : Base64URL.encode(Array(SHA256.hash(data: der)))
        let now = Double(Int64(Date().timeIntervalSince1970))
        let header: [String: JSONValue] = ["typ": "JWT", thumbprint: .string(print)]
        let claims: [String: JSONValue] = [
            "aud": .string(audience), "iss": .string(clientId), "sub": .string(clientId), "jti": .string(jti),
            "nbf": .number(now), "iat": .number(now), "exp": .number(now + lifetime.rounded(.down)),
        ]
        let key: JWSSigningKey =
            switch (signer ?? self).key {
            case .rsa(let key): .rsa(key, algorithm: alg == "RS256" ? .rs256 : .ps256)
            case .p256(let key): .p256(key)
            }
        return try JWS.sign(header: header, claims: claims, with: key)
    }

    /// The certificate and its private key in one PEM file, as a Kubernetes Secret would hold them.
    package var combinedPEM: String {
        get throws {
            let keyPEM: String =
                switch key {
                case .rsa(let key): key.pemRepresentation
                case .p256(let key): key.pemRepresentation
                }
            return try pem + "\n" + keyPEM + "\n"
        }
    }
}

/// The decoded JSON of a JWT part (0: header, 1: claims).
package func jwtPart(_ token: String, _ index: Int) -> [String: Any] {
    let parts = token.split(separator: ".")
    guard parts.count > index else { return [:] }
    var text = parts[index].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while text.count % 4 != 0 { text += "=" }
    guard let data = Data(base64Encoded: text) else { return [:] }
    return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
}
