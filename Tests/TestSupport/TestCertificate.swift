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

    package static func rsa() throws -> TestCertificate {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        return try TestCertificate(
            key: .rsa(key), publicKey: Certificate.PublicKey(key.publicKey), signer: Certificate.PrivateKey(key),
            algorithm: .sha256WithRSAEncryption)
    }

    package static func p256() throws -> TestCertificate {
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

    package var pem: String { get throws { try certificate.serializeAsPEM().pemString } }
    package var der: [UInt8] { get throws { try certificate.serializeAsPEM().derBytes } }

    /// A client assertion signed with this certificate's key.
    package func assertion(
        audience: String, clientId: String, alg: String = "PS256", thumbprint: String = "x5t#S256",
        lifetime: TimeInterval = 600, jti: String = UUID().uuidString,
        signWith signer: TestCertificate? = nil
    ) throws -> String {
        let der = try self.der
        let print =
            thumbprint == "x5t"
            ? base64URL(Array(Insecure.SHA1.hash(data: der))) : base64URL(Array(SHA256.hash(data: der)))
        let now = Date().timeIntervalSince1970
        let header: [String: Any] = ["alg": alg, "typ": "JWT", thumbprint: print]
        let claims: [String: Any] = [
            "aud": audience, "iss": clientId, "sub": clientId, "jti": jti,
            "nbf": Int64(now), "iat": Int64(now), "exp": Int64(now + lifetime),
        ]
        let input =
            base64URL(try JSONSerialization.data(withJSONObject: header))
            + "." + base64URL(try JSONSerialization.data(withJSONObject: claims))
        let signature: [UInt8]
        switch (signer ?? self).key {
        case .rsa(let key):
            signature = Array(
                try key.signature(for: Array(input.utf8), padding: alg == "RS256" ? .insecurePKCS1v1_5 : .PSS)
                    .rawRepresentation)
        case .p256(let key):
            signature = Array(try key.signature(for: Array(input.utf8)).rawRepresentation)
        }
        return input + "." + base64URL(signature)
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

/// Unpadded base64url.
package func base64URL<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
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
