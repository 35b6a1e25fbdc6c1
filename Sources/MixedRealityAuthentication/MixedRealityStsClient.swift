public import AzureCore
public import Logging
import NIOHTTP1

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Options of ``MixedRealityStsClient``.
public struct MixedRealityStsClientOptions: Sendable {
    /// The default Entra scope of the STS (protocol Decisions table: regionless, double slash).
    public static let defaultAuthenticationScope = "https://sts.mixedreality.azure.com//.default"

    /// An STS endpoint other than `https://sts.<accountDomain>` (optional; must be https).
    public var customEndpointURL: String?
    /// The Entra scope requested from a token credential (default ``defaultAuthenticationScope``).
    public var authenticationScope: String
    /// HTTP settings: retries, timeouts, extra CA bundle, `User-Agent` prefix.
    public var pipeline: HTTPPipelineOptions

    /// Creates options.
    /// - Parameters:
    ///   - customEndpointURL: STS endpoint override (optional).
    ///   - authenticationScope: Entra scope (default ``defaultAuthenticationScope``).
    ///   - pipeline: HTTP settings.
    public init(
        customEndpointURL: String? = nil,
        authenticationScope: String = Self.defaultAuthenticationScope,
        pipeline: HTTPPipelineOptions = HTTPPipelineOptions()
    ) {
        self.customEndpointURL = customEndpointURL
        self.authenticationScope = authenticationScope
        self.pipeline = pipeline
    }
}

/// A Mixed Reality token with the correlation ids of the call that produced it.
public struct MixedRealityTokenResponse: Sendable {
    /// The token and its expiry (from the JWT `exp`).
    public var accessToken: AccessToken
    /// The `X-MRC-CV` sent; `nil` when the credential was a ready token (no STS call).
    public var correlationVector: String?
    /// The `MS-CV` the STS answered with.
    public var msCV: String?
    /// HTTP tries made (0 when no STS call was needed).
    public var tries: Int

    package init(accessToken: AccessToken, correlationVector: String?, msCV: String?, tries: Int) {
        self.accessToken = accessToken
        self.correlationVector = correlationVector
        self.msCV = msCV
        self.tries = tries
    }
}

/// A credential whose tokens are Mixed Reality tokens already: the STS client and
/// ``MixedRealityTokenCredential/credential(accountId:accountDomain:credential:options:)`` pass it
/// through instead of exchanging its token at the STS as an Entra ID token.
///
/// ``StaticTokenCredential`` (a token obtained elsewhere), ``MixedRealityTokenCredential`` and the
/// sidecar's token file (`TokenFileCredential`) are such credentials.
public protocol MixedRealityTokenSource: TokenCredential {}

extension StaticTokenCredential: MixedRealityTokenSource {}

/// Exchanges an account key or an Entra ID token for a Mixed Reality access token, as the Azure
/// SDKs' `MixedRealityStsClient` does.
public struct MixedRealityStsClient: Sendable {
    enum Credential: Sendable {
        case accountKey(AzureKeyCredential)
        case token(any TokenCredential)
        case ready(any MixedRealityTokenSource)
    }

    static let apiVersion = "2019-02-28-preview"

    /// The account id, lowercase.
    public let accountId: String
    /// The account domain, such as `eastus2.mixedreality.azure.com`.
    public let accountDomain: String
    /// The STS endpoint used.
    public let endpointURL: URL
    /// The options.
    public let options: MixedRealityStsClientOptions
    let credential: Credential
    let pipeline: HTTPPipeline

    /// Creates a client that authenticates with the account key.
    /// - Parameters:
    ///   - accountId: The account id (a UUID).
    ///   - accountDomain: The account domain, such as `eastus2.mixedreality.azure.com`.
    ///   - credential: The account key.
    ///   - options: Endpoint, scope and HTTP options.
    /// - Throws: ``MixedRealityAuthenticationError`` (`invalidArgument`) naming the bad argument.
    public init(
        accountId: String,
        accountDomain: String,
        credential: AzureKeyCredential,
        options: MixedRealityStsClientOptions = MixedRealityStsClientOptions()
    ) throws {
        try self.init(
            accountId: accountId, accountDomain: accountDomain, credential: .accountKey(credential), options: options)
    }

    /// Creates a client that authenticates with an Entra ID token credential, or passes Mixed
    /// Reality tokens through when `credential` is a ``MixedRealityTokenSource`` (such as a
    /// ``StaticTokenCredential`` holding a token obtained elsewhere).
    /// - Parameters:
    ///   - accountId: The account id (a UUID).
    ///   - accountDomain: The account domain.
    ///   - credential: Any token credential.
    ///   - options: Endpoint, scope and HTTP options.
    /// - Throws: ``MixedRealityAuthenticationError`` (`invalidArgument`) naming the bad argument.
    public init(
        accountId: String,
        accountDomain: String,
        credential: any TokenCredential,
        options: MixedRealityStsClientOptions = MixedRealityStsClientOptions()
    ) throws {
        let wrapped: Credential =
            if let ready = credential as? any MixedRealityTokenSource { .ready(ready) } else { .token(credential) }
        try self.init(accountId: accountId, accountDomain: accountDomain, credential: wrapped, options: options)
    }

    init(
        accountId: String,
        accountDomain: String,
        credential: Credential,
        options: MixedRealityStsClientOptions
    ) throws {
        let trimmedId = accountId.trimmed
        guard !trimmedId.isEmpty else {
            throw MixedRealityAuthenticationError(.invalidArgument, "accountId is empty: give the account's UUID")
        }
        guard let normalizedId = AccountIdRule.normalized(trimmedId) else {
            throw MixedRealityAuthenticationError(
                .invalidArgument, "accountId \"\(trimmedId.prefix(64))\" is not a UUID: \(AccountIdRule.hint)")
        }
        let domain = accountDomain.trimmed
        guard !domain.isEmpty else {
            throw MixedRealityAuthenticationError(
                .invalidArgument,
                "accountDomain is empty: give the account's domain, such as eastus2.mixedreality.azure.com"
            )
        }
        // A DNS host name: anything else could make `sts.<accountDomain>` another host
        // (`eastus2.mixedreality.azure.com@evil.example` is user info before `evil.example`).
        guard HostNameRule.isValid(domain, minimumLabels: 2) else {
            throw MixedRealityAuthenticationError(
                .invalidArgument,
                "accountDomain \"\(LogText.bounded(domain))\" is not a DNS host name: give the account's domain,"
                    + " such as eastus2.mixedreality.azure.com"
            )
        }
        let endpointText = options.customEndpointURL ?? "https://sts.\(domain)"
        let argumentName = options.customEndpointURL == nil ? "accountDomain" : "customEndpointURL"
        guard let endpoint = URL(string: endpointText), let scheme = endpoint.scheme?.lowercased(),
            let host = endpoint.host, !host.isEmpty, endpoint.query == nil, endpoint.fragment == nil
        else {
            throw MixedRealityAuthenticationError(
                .invalidArgument,
                "\(argumentName) does not make a valid endpoint URL (\"\(LogText.bounded(endpointText))\"):"
                    + " give a host name, or an https:// URL without query"
            )
        }
        guard endpoint.user == nil, endpoint.password == nil else {
            throw MixedRealityAuthenticationError(
                .invalidArgument,
                "\(argumentName) must not carry user info (user@host): give an https:// URL such as https://sts.example.com"
            )
        }
        guard scheme == "https" || (scheme == "http" && options.pipeline.allowInsecureLoopbackHTTP) else {
            throw MixedRealityAuthenticationError(
                .invalidArgument,
                "\(argumentName) \"\(LogText.bounded(endpointText))\" must be an https:// URL: the STS request carries a credential"
            )
        }
        guard !options.authenticationScope.isEmpty else {
            throw MixedRealityAuthenticationError(.invalidArgument, "authenticationScope is empty")
        }
        let pipeline: HTTPPipeline
        do {
            pipeline = try HTTPPipeline(options: options.pipeline, component: "mixedreality-authentication")
        } catch {
            throw MixedRealityAuthenticationError(.invalidArgument, "options.pipeline: \(error.message)", cause: error)
        }
        self.accountId = normalizedId
        self.accountDomain = domain
        self.endpointURL = endpoint
        self.options = options
        self.credential = credential
        self.pipeline = pipeline
    }

    /// Gets a Mixed Reality access token; its expiry is the JWT's `exp`.
    /// - Parameter logger: Where the client logs (never the key or a token).
    /// - Throws: ``MixedRealityAuthenticationError``.
    public func getToken(logger: Logger = AzureLogging.disabledLogger) async throws -> AccessToken {
        try await getTokenResponse(logger: logger).accessToken
    }

    /// Gets a Mixed Reality access token together with the correlation ids of the call.
    /// - Parameter logger: Where the client logs (never the key or a token).
    /// - Throws: ``MixedRealityAuthenticationError``.
    public func getTokenResponse(logger: Logger = AzureLogging.disabledLogger) async throws -> MixedRealityTokenResponse
    {
        let bearer: String
        switch credential {
        case .ready(let ready):
            let token: AccessToken
            do {
                token = try await ready.getToken(
                    for: TokenRequestContext(scopes: [options.authenticationScope]), logger: logger)
            } catch {
                throw MixedRealityAuthenticationError(
                    .authenticationFailed, "no Mixed Reality token from \(ready) for account \(accountId)",
                    isRetriable: Self.isRetriable(error), cause: error)
            }
            return MixedRealityTokenResponse(accessToken: token, correlationVector: nil, msCV: nil, tries: 0)
        case .accountKey(let key):
            bearer = "\(accountId):\(key.key)"
        case .token(let tokenCredential):
            do {
                bearer = try await tokenCredential.getToken(
                    for: TokenRequestContext(scopes: [options.authenticationScope]), logger: logger
                ).token
            } catch {
                throw MixedRealityAuthenticationError(
                    .authenticationFailed,
                    "no Entra ID token for scope \(options.authenticationScope) for account \(accountId)",
                    isRetriable: Self.isRetriable(error),
                    cause: error
                )
            }
        }
        return try await exchange(bearer: bearer, logger: logger)
    }

    private static func isRetriable(_ error: any Error) -> Bool {
        if let known = error as? any AzureError { return known.isRetriable }
        return true
    }

    private func exchange(bearer: String, logger baseLogger: Logger) async throws -> MixedRealityTokenResponse {
        let cv = CorrelationVector.generate()
        var logger = baseLogger
        logger[metadataKey: LogKeys.correlationVector] = "\(cv)"
        logger[metadataKey: LogKeys.accountId] = "\(accountId)"
        let url = endpointURL.appending(path: "Accounts").appending(path: accountId).appending(path: "token")
            .appending(queryItems: [URLQueryItem(name: "api-version", value: Self.apiVersion)])
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Authorization", value: "Bearer \(bearer)")
        headers.add(name: "X-MRC-CV", value: cv)
        headers.add(name: "x-ms-client-request-id", value: UUID().uuidString.lowercased())
        let request = PipelineRequest(method: .GET, url: url, headers: headers, operation: "mixedreality.sts.get_token")

        let response: PipelineResponse
        do {
            response = try await pipeline.send(request, logger: logger)
        } catch {
            throw MixedRealityAuthenticationError(
                error.code == .invalidArgument ? .invalidArgument : .transport,
                "the STS request for account \(accountId) failed: \(error.message)",
                correlationVector: cv,
                isRetriable: error.isRetriable,
                cause: error
            )
        }
        return try interpret(response, correlationVector: cv)
    }

    /// Turns the STS's answer into a token or an error (separate from the request so that the
    /// reliability suite can fuzz it).
    func interpret(
        _ response: PipelineResponse, correlationVector cv: String
    ) throws(MixedRealityAuthenticationError)
        -> MixedRealityTokenResponse
    {
        // Header values reach logs, doctor's report and the termination message: bounded and
        // escaped where they enter.
        let msCV = response.headers.first(name: "MS-CV").map { LogText.bounded($0, limit: 64) }
        let wwwAuthenticate = response.headers.first(name: "WWW-Authenticate").map { LogText.bounded($0, limit: 200) }
        func failure(
            _ code: MixedRealityAuthenticationError.Code, _ message: String, retriable: Bool
        )
            -> MixedRealityAuthenticationError
        {
            MixedRealityAuthenticationError(
                code, message, httpStatus: response.status, correlationVector: cv, msCV: msCV,
                wwwAuthenticate: wwwAuthenticate, retryAfter: response.retryAfter, isRetriable: retriable
            )
        }
        switch response.status {
        case 200:
            break
        case 401, 403:
            throw failure(
                .authenticationFailed,
                "the STS refused the credential for account \(accountId) (\(response.status)):"
                    + " check the account id, the key or the Entra identity's role on the account",
                retriable: false
            )
        case 429:
            throw failure(.throttled, "the STS is throttling account \(accountId); try again later", retriable: true)
        case 400:
            throw failure(
                .serviceError, "the STS rejected the request for account \(accountId) as invalid", retriable: false)
        default:
            let retriable = options.pipeline.retry.retriableStatuses.contains(response.status) || response.status >= 500
            throw failure(
                .serviceError,
                "the STS answered \(response.status) for account \(accountId) after \(response.tries) tries",
                retriable: retriable
            )
        }
        let token: String
        do {
            token = try JSONDecoder().decode(TokenBody.self, from: Data(response.body)).AccessToken
        } catch {
            throw failure(
                .badResponse, "the STS answer for account \(accountId) is not {\"AccessToken\": \"<JWT>\"}",
                retriable: true)
        }
        let expiresOn: Date
        do {
            expiresOn = try JWTExpiry.expiry(of: token)
        } catch {
            throw failure(
                .badResponse, "the STS returned an unusable access token for account \(accountId): \(error.reason)",
                retriable: true
            )
        }
        return MixedRealityTokenResponse(
            accessToken: AccessToken(token: token, expiresOn: expiresOn), correlationVector: cv, msCV: msCV,
            tries: response.tries
        )
    }

    private struct TokenBody: Decodable {
        var AccessToken: String  // swiftlint:disable:this identifier_name
    }
}
