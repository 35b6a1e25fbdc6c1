package import Crypto
package import _CryptoExtras

/// A private key that signs JSON Web Signatures, with the algorithm it signs with.
package struct JWSSigningKey: Sendable {
    /// The JWS algorithms the project signs with.
    package enum Algorithm: String, Sendable {
        /// RSASSA-PSS with SHA-256 (Entra's current guidance for certificate assertions).
        case ps256 = "PS256"
        /// RSASSA-PKCS1-v1_5 with SHA-256 (ADFS, legacy authorities, the emulator's tokens).
        case rs256 = "RS256"
        /// ECDSA P-256 with SHA-256.
        case es256 = "ES256"
    }

    private enum Storage: Sendable {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
    }

    /// The algorithm, written into the header's `alg`.
    package let algorithm: Algorithm
    private let storage: Storage

    /// An RSA key signing PS256 or RS256.
    package static func rsa(_ key: _RSA.Signing.PrivateKey, algorithm: Algorithm) -> JWSSigningKey {
        JWSSigningKey(algorithm: algorithm == .rs256 ? .rs256 : .ps256, storage: .rsa(key))
    }

    /// A P-256 key signing ES256.
    package static func p256(_ key: P256.Signing.PrivateKey) -> JWSSigningKey {
        JWSSigningKey(algorithm: .es256, storage: .p256(key))
    }

    /// The raw signature of `input` (for ES256, `r || s`).
    func signature(for input: [UInt8]) throws -> [UInt8] {
        switch storage {
        case .rsa(let key):
            let padding: _RSA.Signing.Padding = algorithm == .rs256 ? .insecurePKCS1v1_5 : .PSS
            return Array(try key.signature(for: input, padding: padding).rawRepresentation)
        case .p256(let key):
            return Array(try key.signature(for: input).rawRepresentation)
        }
    }
}

/// Compact JSON Web Signatures: the one signer of the project (certificate assertions, the
/// emulator's tokens, test assertions).
package enum JWS {
    /// `base64url(header).base64url(claims).base64url(signature)`, the header's `alg` set from the
    /// key, both parts in canonical JSON.
    /// - Throws: The crypto library's error when the key cannot sign.
    package static func sign(
        header: [String: JSONValue], claims: [String: JSONValue], with key: JWSSigningKey
    ) throws -> String {
        var header = header
        header["alg"] = .string(key.algorithm.rawValue)
        let input = Base64URL.encode(JSON.encode(header)) + "." + Base64URL.encode(JSON.encode(claims))
        return input + "." + Base64URL.encode(try key.signature(for: Array(input.utf8)))
    }
}
