import AzureCore
package import Logging
package import MixedRealityAuthentication

/// Where an account's tokens come from: one call, one Mixed Reality token with the correlation
/// ids of the exchange. The sidecar's is ``StsTokenSource``; tests script their own.
package protocol TokenSource: Sendable {
    /// One exchange.
    /// - Parameter logger: Where the exchange logs (never a secret or a token).
    /// - Throws: An ``AzureError``: the client's, the credential's or the sidecar's.
    func token(logger: Logger) async throws -> MixedRealityTokenResponse
}

/// The Mixed Reality STS through ``MixedRealityStsClient``; for account keys, the key file is read
/// again before each exchange (Kubernetes rotates Secrets in place).
package struct StsTokenSource: TokenSource {
    let client: MixedRealityStsClient
    let accountKey: (credential: AzureKeyCredential, file: String)?

    package func token(logger: Logger) async throws -> MixedRealityTokenResponse {
        if let accountKey {
            try accountKey.credential.update(try CredentialFactory.readKey(accountKey.file))
        }
        return try await client.getTokenResponse(logger: logger)
    }
}
