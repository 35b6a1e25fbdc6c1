#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A bearer token and the moment it stops being valid.
///
/// `description` never shows the token itself, so an `AccessToken` can be interpolated into a log
/// message or an error without leaking it.
public struct AccessToken: Sendable, Hashable, CustomStringConvertible {
    /// The token string sent as `Authorization: Bearer <token>`.
    public var token: String
    /// When the token expires.
    public var expiresOn: Date
    /// When a cache should replace the token, if the issuer said (`refresh_in`); `nil` otherwise.
    public var refreshOn: Date?

    /// Creates a token.
    /// - Parameters:
    ///   - token: The token string.
    ///   - expiresOn: Its expiry.
    ///   - refreshOn: When to refresh it, if the issuer said.
    public init(token: String, expiresOn: Date, refreshOn: Date? = nil) {
        self.token = token
        self.expiresOn = expiresOn
        self.refreshOn = refreshOn
    }

    public var description: String {
        "AccessToken(token: <redacted \(token.utf8.count) bytes>, expiresOn: \(expiresOn.formatted(.iso8601)))"
    }
}
