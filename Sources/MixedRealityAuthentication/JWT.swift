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
        let claims: ClaimSet
        do {
            claims = try JSONDecoder().decode(ClaimSet.self, from: Data(bytes))
        } catch {
            throw ParseError(reason: "the JWT payload is not a JSON object")
        }
        let seconds: Double
        switch claims.exp {
        case .number(let value)?:
            seconds = value
        case .string(let text)?:
            guard let value = Double(text.trimmed) else {
                throw ParseError(reason: "the JWT claim exp is a string but not a number")
            }
            seconds = value
        case nil, .absent?:
            throw ParseError(reason: "the JWT has no exp claim (no expiration)")
        case .other?:
            throw ParseError(reason: "the JWT claim exp is neither a number nor a numeric string")
        }
        guard seconds.isFinite, seconds > 0, seconds < 253_402_300_800 * 10 else {
            throw ParseError(reason: "the JWT claim exp is not a plausible time")
        }
        let issuedAt: Date? =
            switch claims.iat {
            case .number(let value)?: value > 0 && value.isFinite ? Date(timeIntervalSince1970: value) : nil
            case .string(let text)?: Double(text.trimmed).map { Date(timeIntervalSince1970: $0) }
            default: nil
            }
        return Claims(
            expiresOn: Date(timeIntervalSince1970: seconds.rounded(.down)), issuedAt: issuedAt, accountId: claims.aid)
    }
}

private struct ClaimSet: Decodable {
    enum Exp: Decodable {
        case number(Double)
        case string(String)
        case absent
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .absent
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let text = try? container.decode(String.self) {
                self = .string(text)
            } else {
                self = .other
            }
        }
    }
    var exp: Exp?
    var iat: Exp?
    var aid: String?

    enum CodingKeys: String, CodingKey { case exp, iat, aid }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        exp = try container.decodeIfPresent(Exp.self, forKey: .exp)
        iat = try? container.decodeIfPresent(Exp.self, forKey: .iat)
        aid = try? container.decodeIfPresent(String.self, forKey: .aid)
    }
}
