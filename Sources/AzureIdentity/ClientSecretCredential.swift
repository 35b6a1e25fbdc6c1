public import AzureCore
public import Logging

/// Authenticates an Entra application with a client secret, given directly or as a file that is
/// re-read on every request (so a rotated Kubernetes Secret is used without a restart).
public struct ClientSecretCredential: TokenCredential, CustomStringConvertible {
    enum Secret: Sendable {
        case value(String)
        case file(String)
    }

    static let name = "ClientSecretCredential"
    let client: EntraClient
    let secret: Secret
    let cache: TokenCache

    /// Creates a credential with the secret itself.
    /// - Parameters:
    ///   - tenantId: The tenant id.
    ///   - clientId: The application (client) id.
    ///   - clientSecret: The client secret value.
    ///   - options: Authority host and HTTP options.
    /// - Throws: ``AzureIdentityError`` (`invalidArgument`) naming the bad argument.
    public init(
        tenantId: String, clientId: String, clientSecret: String, options: TokenCredentialOptions = .init()
    ) throws {
        guard !clientSecret.isEmpty else {
            throw AzureIdentityError(.invalidArgument, credential: Self.name, "clientSecret is empty")
        }
        try self.init(tenantId: tenantId, clientId: clientId, secret: .value(clientSecret), options: options)
    }

    /// Creates a credential whose secret is read from a file at each request.
    /// - Parameters:
    ///   - tenantId: The tenant id.
    ///   - clientId: The application (client) id.
    ///   - clientSecretFile: A file holding the secret (surrounding white space is ignored).
    ///   - options: Authority host and HTTP options.
    /// - Throws: ``AzureIdentityError`` (`invalidArgument`) naming the bad argument.
    public init(
        tenantId: String, clientId: String, clientSecretFile: String, options: TokenCredentialOptions = .init()
    ) throws {
        try self.init(tenantId: tenantId, clientId: clientId, secret: .file(clientSecretFile), options: options)
    }

    init(tenantId: String, clientId: String, secret: Secret, options: TokenCredentialOptions) throws {
        self.client = try EntraClient(
            credentialName: Self.name, tenantId: tenantId, clientId: clientId, options: options)
        self.secret = secret
        self.cache = TokenCache(now: options.now)
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        try await cache.token(for: context.cacheKey) { [client, secret] in
            let value: String =
                switch secret {
                case .value(let value): value
                case .file(let path): try SecretFile.read(path, what: "the client secret file", credential: Self.name)
                }
            return try await client.requestToken(
                context: context, credentialFields: [("client_secret", value)], logger: logger)
        }
    }

    public var description: String {
        "ClientSecretCredential(tenantId: \(client.tenantId), clientId: \(client.clientId))"
    }
}
