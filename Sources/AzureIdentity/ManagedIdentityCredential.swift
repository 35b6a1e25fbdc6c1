public import AzureCore
public import Logging
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Authenticates as an Azure managed identity: through the App Service style endpoint when
/// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, otherwise through IMDS
/// (`http://169.254.169.254`, or `AZURE_POD_IDENTITY_AUTHORITY_HOST`).
///
/// IMDS requests are retried on 404, 410, 429 and 5xx as the SDKs do (the endpoint answers 404
/// while an identity is being assigned). Tokens living over two hours are refreshed at half-life.
public struct ManagedIdentityCredential: TokenCredential, CustomStringConvertible {
    /// Which identity.
    public enum Identity: Sendable, Hashable, CustomStringConvertible {
        /// The system-assigned identity (or the only user-assigned one).
        case system
        /// A user-assigned identity by client id.
        case clientId(String)
        /// A user-assigned identity by object (principal) id.
        case objectId(String)
        /// A user-assigned identity by ARM resource id.
        case resourceId(String)

        public var description: String {
            switch self {
            case .system: "system-assigned"
            case .clientId(let id): "client id \(id)"
            case .objectId(let id): "object id \(id)"
            case .resourceId(let id): "resource id \(id)"
            }
        }
    }

    static let name = "ManagedIdentityCredential"
    static let imdsDefaultHost = "http://169.254.169.254"
    /// The retry rules for IMDS.
    public static let imdsRetry = RetryOptions(
        maxRetries: 5, initialDelay: .milliseconds(800), maxDelay: .seconds(60),
        retriableStatuses: [404, 408, 410, 429, 500, 502, 503, 504])

    enum Endpoint: Sendable {
        case imds(URL)
        case appService(URL, header: String)
    }

    /// The identity requested.
    public let identity: Identity
    let endpoint: Endpoint
    let pipeline: HTTPPipeline
    let cache: TokenCache
    let now: @Sendable () -> Date

    /// Creates a credential.
    /// - Parameters:
    ///   - identity: Which identity (default: system-assigned).
    ///   - options: HTTP options (retries default to ``imdsRetry`` for IMDS) and the environment.
    /// - Throws: ``AzureIdentityError`` (`invalidArgument`) for a bad endpoint variable.
    public init(identity: Identity = .system, options: TokenCredentialOptions = .init()) throws {
        let environment = options.resolvedEnvironment
        var pipelineOptions = options.pipeline
        if let endpoint = environment["IDENTITY_ENDPOINT"], !endpoint.isEmpty,
            let header = environment["IDENTITY_HEADER"], !header.isEmpty
        {
            guard let url = URL(string: endpoint), url.host != nil else {
                throw AzureIdentityError(
                    .invalidArgument, credential: Self.name, "IDENTITY_ENDPOINT \"\(endpoint)\" is not a URL")
            }
            self.endpoint = .appService(url, header: header)
        } else {
            let host =
                environment["AZURE_POD_IDENTITY_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 }
                ?? Self.imdsDefaultHost
            guard var url = URL(string: host), url.host != nil else {
                throw AzureIdentityError(
                    .invalidArgument, credential: Self.name,
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST \"\(host)\" is not a URL")
            }
            while url.path.hasSuffix("/") && url.path.count > 1 { url.deleteLastPathComponent() }
            self.endpoint = .imds(url.appending(path: "metadata/identity/oauth2/token"))
            if options.pipeline.retry == RetryOptions() { pipelineOptions.retry = Self.imdsRetry }
        }
        do {
            pipelineOptions.environment = environment
            self.pipeline = try HTTPPipeline(options: pipelineOptions, component: "identity")
        } catch {
            throw AzureIdentityError(
                .invalidArgument, credential: Self.name, "options.pipeline: \(error.message)", cause: error)
        }
        self.identity = identity
        self.cache = TokenCache(now: options.now)
        self.now = options.now
    }

    /// The resource for the scopes: the single scope without its `/.default` suffix.
    static func resource(for scopes: [String]) throws -> String {
        guard scopes.count == 1, let scope = scopes.first, !scope.isEmpty else {
            throw AzureIdentityError(
                .invalidArgument, credential: name, "managed identity takes exactly one scope, got \(scopes.count)")
        }
        return scope.hasSuffix("/.default") ? String(scope.dropLast("/.default".count)) : scope
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        let resource = try Self.resource(for: context.scopes)
        return try await cache.token(for: context.cacheKey) { [self] in
            try await fetch(resource: resource, logger: logger)
        }
    }

    private func fetch(resource: String, logger baseLogger: Logger) async throws -> AccessToken {
        var logger = baseLogger
        logger[metadataKey: LogKeys.credential] = "\(Self.name)"
        var query = [URLQueryItem(name: "resource", value: resource)]
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        let url: URL
        switch endpoint {
        case .imds(let base):
            query.insert(URLQueryItem(name: "api-version", value: "2018-02-01"), at: 0)
            switch identity {
            case .system: break
            case .clientId(let id): query.append(URLQueryItem(name: "client_id", value: id))
            case .objectId(let id): query.append(URLQueryItem(name: "object_id", value: id))
            case .resourceId(let id): query.append(URLQueryItem(name: "msi_res_id", value: id))
            }
            headers.add(name: "Metadata", value: "true")
            url = base.appending(queryItems: query)
        case .appService(let base, let secret):
            query.insert(URLQueryItem(name: "api-version", value: "2019-08-01"), at: 0)
            switch identity {
            case .system: break
            case .clientId(let id): query.append(URLQueryItem(name: "client_id", value: id))
            case .objectId(let id): query.append(URLQueryItem(name: "principal_id", value: id))
            case .resourceId(let id): query.append(URLQueryItem(name: "mi_res_id", value: id))
            }
            headers.add(name: "X-IDENTITY-HEADER", value: secret)
            url = base.appending(queryItems: query)
        }
        let request = PipelineRequest(
            method: .GET, url: url, headers: headers, transport: .plainHTTPAllowed, operation: "managed_identity.token")
        let requestedAt = now()
        let response: PipelineResponse
        do {
            response = try await pipeline.send(request, logger: logger)
        } catch {
            if error.code == .transport || error.code == .timeout {
                throw AzureIdentityError.unavailable(
                    Self.name, "the managed identity endpoint \(url.host ?? "") cannot be reached: \(error.message)",
                    isRetriable: true, cause: error)
            }
            throw AzureIdentityError(
                .transport, credential: Self.name, "the managed identity request failed: \(error.message)",
                isRetriable: error.isRetriable, cause: error)
        }
        let parser = TokenResponseParser(credential: Self.name, correlationId: nil)
        if response.status == 400, case .imds = endpoint {
            var error = parser.failure(response, logger: logger)
            error.code = .credentialUnavailable
            error.message = "no managed identity \(identity) is assigned to this host (\(error.message))"
            throw error
        }
        return try parser.parse(response, requestedAt: requestedAt, logger: logger, halfLifeRefresh: true)
    }

    public var description: String { "ManagedIdentityCredential(\(identity))" }
}
