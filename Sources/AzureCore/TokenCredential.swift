public import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a caller asks a ``TokenCredential`` for.
public struct TokenRequestContext: Sendable, Hashable {
    /// The scopes the token is for, such as `https://sts.mixedreality.azure.com//.default`.
    public var scopes: [String]
    /// Extra claims requested by the resource (a JSON string), if any.
    public var claims: String?
    /// A tenant other than the credential's own, if the resource asks for one.
    public var tenantId: String?

    /// Creates a request context.
    /// - Parameters:
    ///   - scopes: The scopes (at least one).
    ///   - claims: Optional claims JSON.
    ///   - tenantId: Optional tenant override.
    public init(scopes: [String], claims: String? = nil, tenantId: String? = nil) {
        self.scopes = scopes
        self.claims = claims
        self.tenantId = tenantId
    }
}

/// Something that can produce a bearer token for a set of scopes.
///
/// Implementations cache as they see fit and must be safe to call concurrently. They never log
/// or throw the token, the secret they hold or an assertion they build.
public protocol TokenCredential: Sendable {
    /// Returns a token for the request.
    /// - Parameters:
    ///   - context: The scopes and options of the request.
    ///   - logger: Where the credential logs (at info or below; never secrets).
    /// - Throws: The credential's error type when no token could be obtained.
    func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken
}

extension TokenCredential {
    /// Returns a token for the given scopes.
    /// - Parameters:
    ///   - scopes: The scopes.
    ///   - logger: Where the credential logs.
    /// - Throws: The credential's error type when no token could be obtained.
    public func getToken(scopes: [String], logger: Logger = AzureLogging.disabledLogger) async throws -> AccessToken {
        try await self.getToken(for: TokenRequestContext(scopes: scopes), logger: logger)
    }
}

/// A credential that always returns the same token: a ready Mixed Reality token, or a token
/// obtained elsewhere. `MixedRealityStsClient` passes it through without calling the STS, as the
/// Azure SDKs do.
public struct StaticTokenCredential: TokenCredential, CustomStringConvertible {
    /// The token returned by every call.
    public let accessToken: AccessToken

    /// Creates a static credential.
    /// - Parameter accessToken: The token to return.
    public init(_ accessToken: AccessToken) {
        self.accessToken = accessToken
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        accessToken
    }

    public var description: String { "StaticTokenCredential(\(accessToken))" }
}
