import AzureCore

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Reads the expiry of a JWT without verifying it, as the Azure SDKs do (protocol Decisions:
/// three parts; the payload base64url or standard base64, padded or not; `exp` a number or a
/// numeric string). Errors never quote the token.
public enum JWTExpiry: Sendable {
    /// Why a token is not usable.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, without the token.
        public let reason: String
        public var description: String { reason }
    }

    /// The times and account of a Mixed Reality token.
    public struct Claims: Sendable, Hashable {
        /// `exp`.
        public var expiresOn: Date
        /// `iat`, when present.
        public var issuedAt: Date?
        /// `aid` (the account id), when present.
        public var accountId: String?
    }

    /// The `exp` claim of a JWT as a date.
    /// - Parameter token: The compact JWT.
    /// - Throws: ``ParseError`` when the token is not a JWT with a usable `exp`.
    public static func expiry(of token: String) throws(ParseError) -> Date {
        try claims(of: token).expiresOn
    }

    /// The `exp`, `iat` and `aid` claims of a JWT.
    /// - Parameter token: The compact JWT.
    /// - Throws: ``ParseError`` when the token is not a JWT with a usable `exp`.
    public static func claims(of token: String) throws(ParseError) -> Claims {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3 else {
            if token.trimmed.isEmpty {
                throw ParseError(reason: "the token is empty, not a JWT")
            }
            throw ParseError(
                reason: "the token is not a JWT: it has \(parts.count) dot-separated part(s), a JWT has 3")
        }
        let payload = Substring(parts[1])
        guard !payload.isEmpty else { throw ParseError(reason: "the JWT payload (second part) is empty") }
        guard let bytes = Base64URL.decode(payload) else {
            throw ParseError(reason: "the JWT payload is neither base64url nor base64")
        }
        guard case .object(let members)? = try? JSONParser().parse(bytes) else {
            throw ParseError(reason: "the JWT payload is not a JSON object")
        }
        let seconds: Double
        switch members["exp"] {
        case .number(let value)?:
            seconds = value
        case .string(let text)?:
            guard let value = Double(text.trimmed) else {
                throw ParseError(reason: "the JWT claim exp is a string but not a number")
            }
            seconds = value
        case nil, .null?:
            throw ParseError(reason: "the JWT has no exp claim (no expiration)")
        default:
            throw ParseError(reason: "the JWT claim exp is neither a number nor a numeric string")
        }
        guard seconds.isFinite, seconds > 0, seconds < 253_402_300_800 * 10 else {
            throw ParseError(reason: "the JWT claim exp is not a plausible time")
        }
        let issuedAt: Date? =
            switch members["iat"] {
            case .number(let value)?: value > 0 && value.isFinite ? Date(timeIntervalSince1970: value) : nil
            case .string(let text)?: Double(text.trimmed).map { Date(timeIntervalSince1970: $0) }
            default: nil
            }
        let accountId = members["aid"]?.string
        return Claims(
            expiresOn: Date(timeIntervalSince1970: seconds.rounded(.down)), issuedAt: issuedAt, accountId: accountId)
    }
}
