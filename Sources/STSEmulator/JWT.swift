import AzureCore
import Crypto
import _CryptoExtras

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Strict base64url, as JWS requires: no padding, no standard-alphabet characters.
///
/// The emulator keeps this strict decoder of its own on purpose: it checks what clients send
/// independently of `AzureCore.Base64URL`, which is lenient as the protocol's Decisions table
/// asks of a client (base64 or base64url, padded or not).
enum StrictBase64URL {
    static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        guard
            text.utf8.allSatisfy({ byte in
                (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                    || byte == 0x2D || byte == 0x5F
            })
        else { return nil }
        guard text.utf8.count % 4 != 1 else { return nil }
        return Base64URL.decode(text)
    }
}

/// An RSA key that signs the JWTs one of the emulator's services issues.
struct JWTIssuerKey: Sendable {
    let privateKey: _RSA.Signing.PrivateKey
    let kid: String

    init(kid: String) throws {
        self.privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        self.kid = kid
    }

    /// One key per role for the whole process: RSA key generation costs tens of milliseconds and
    /// tests start many emulators. The keys are throwaway like the emulator's CA.
    static let sts = Result { try JWTIssuerKey(kid: "mr-sts-emulator-sts") }
    static let entra = Result { try JWTIssuerKey(kid: "mr-sts-emulator-entra") }
    static let serviceAccounts = Result { try JWTIssuerKey(kid: "mr-sts-emulator-service-accounts") }

    var publicKey: _RSA.Signing.PublicKey { privateKey.publicKey }

    /// A thumbprint-style value for the `x5t` header (SHA-1 of the public key's DER).
    var x5t: String { Base64URL.encode(Array(Insecure.SHA1.hash(data: publicKey.derRepresentation))) }

    /// Signs RS256 over the header and claims.
    func sign(claims: [String: JSONValue], extraHeader: [String: JSONValue] = [:]) throws -> String {
        var header: [String: JSONValue] = ["typ": "JWT", "kid": .string(kid)]
        header.merge(extraHeader) { _, new in new }
        return try JWS.sign(header: header, claims: claims, with: .rsa(privateKey, algorithm: .rs256))
    }
}

/// A JWT split into its parts, not yet verified.
struct ParsedJWT: Sendable {
    let header: [String: JSONValue]
    let claims: [String: JSONValue]
    let signingInput: [UInt8]
    let signature: [UInt8]

    enum Failure: Error, Sendable { case malformed(String) }

    init(_ token: String) throws(Failure) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("the JWT does not have 3 parts") }
        guard let headerBytes = StrictBase64URL.decode(parts[0]), let claimBytes = StrictBase64URL.decode(parts[1]),
            let signature = StrictBase64URL.decode(parts[2])
        else { throw .malformed("a JWT part is not base64url") }
        guard let header = JSON.decode([String: JSONValue].self, from: headerBytes),
            let claims = JSON.decode([String: JSONValue].self, from: claimBytes)
        else { throw .malformed("a JWT part is not a JSON object") }
        self.header = header
        self.claims = claims
        self.signingInput = Array("\(parts[0]).\(parts[1])".utf8)
        self.signature = signature
    }

    var algorithm: String? { header["alg"]?.string }

    /// Verifies the signature with an RSA key (RS256 or PS256) or a P-256 key (ES256).
    func verify(rsa key: _RSA.Signing.PublicKey) -> Bool {
        let signature = _RSA.Signing.RSASignature(rawRepresentation: self.signature)
        switch algorithm {
        case "RS256": return key.isValidSignature(signature, for: signingInput, padding: .insecurePKCS1v1_5)
        case "PS256": return key.isValidSignature(signature, for: signingInput, padding: .PSS)
        default: return false
        }
    }

    func verify(p256 key: P256.Signing.PublicKey) -> Bool {
        guard algorithm == "ES256", let signature = try? P256.Signing.ECDSASignature(rawRepresentation: self.signature)
        else { return false }
        return key.isValidSignature(signature, for: signingInput)
    }

    func time(_ claim: String) -> Date? {
        claims[claim]?.numeric.map { Date(timeIntervalSince1970: $0) }
    }
}
