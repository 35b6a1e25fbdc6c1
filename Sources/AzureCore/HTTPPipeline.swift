import AsyncHTTPClient
package import Logging
import NIOCore
package import NIOHTTP1
import NIOSSL
import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// Options of the HTTP pipeline that carries every request the project sends.
public struct HTTPPipelineOptions: Sendable {
    /// Retry settings (default: the protocol Decisions table).
    public var retry: RetryOptions
    /// How long one try may take, connection to the last byte of the body (default 30 s).
    public var perTryTimeout: Duration
    /// The largest response body read; a larger one fails with `responseTooLarge` (default 1 MiB).
    public var maxResponseBodyBytes: Int
    /// A PEM file of extra CA certificates trusted on top of the system trust store, for private
    /// endpoints and the emulator (optional).
    public var additionalTrustedCAFile: String?
    /// Allows credentials over plain `http://` to loopback addresses, for tests only. Every such
    /// request logs a warning. Default `false`.
    public var allowInsecureLoopbackHTTP: Bool
    /// A prefix for `User-Agent` naming the program, such as `mr-token-sidecar/0.1.0` (optional,
    /// as the SDKs' `applicationId`).
    public var applicationId: String?
    /// The outgoing proxy; `nil` (the default): `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` from
    /// the environment, as the Azure SDKs read them.
    public var proxy: ProxyConfiguration?
    /// Trust and proxy settings that replace these for requests to some hosts only (the sidecar's
    /// config file may route the hosts its operator allowed, and no other); `nil`: none.
    package var scopedTransport: ScopedTransport?
    /// Whether the system's CA store is trusted (default `true`). `false` trusts
    /// ``additionalTrustedCAFile`` alone: a private endpoint with a known CA, where the 140 or so
    /// public roots are neither needed nor wanted (and parsing them is most of a cold start's
    /// TLS set-up).
    package var trustSystemRoots = true
    /// Where the proxy variables and `AZURE_LOG_LEVEL` are read; `nil`: the process's. The
    /// sidecar reads its environment once and hands it to every account's client (reading the
    /// process's builds a dictionary of it each time); credentials pass their own.
    package var environment: [String: String]?
    /// How a try waits for the next (its backoff or `Retry-After`); `nil`: `Task.sleep`. The
    /// daemons pass their clock's sleep (an event-loop timer, so that a retry does not start
    /// libdispatch's once-a-second monitor: docs/architecture.md, "The process runtime"); tests a
    /// fake.
    package var sleep: (@Sendable (Duration) async throws -> Void)?

    /// Creates pipeline options.
    /// - Parameters:
    ///   - retry: Retry settings.
    ///   - perTryTimeout: Timeout of one try (default 30 s).
    ///   - maxResponseBodyBytes: Body bound (default 1 MiB).
    ///   - additionalTrustedCAFile: Extra CA bundle (PEM), optional.
    ///   - allowInsecureLoopbackHTTP: Loopback plain HTTP opt-in for tests (default `false`).
    ///   - applicationId: `User-Agent` prefix, optional.
    ///   - proxy: The outgoing proxy; `nil`: from the environment.
    public init(
        retry: RetryOptions = RetryOptions(),
        perTryTimeout: Duration = .seconds(30),
        maxResponseBodyBytes: Int = 1 << 20,
        additionalTrustedCAFile: String? = nil,
        allowInsecureLoopbackHTTP: Bool = false,
        applicationId: String? = nil,
        proxy: ProxyConfiguration? = nil
    ) {
        self.proxy = proxy
        self.retry = retry
        self.perTryTimeout = perTryTimeout
        self.maxResponseBodyBytes = maxResponseBodyBytes
        self.additionalTrustedCAFile = additionalTrustedCAFile
        self.allowInsecureLoopbackHTTP = allowInsecureLoopbackHTTP
        self.applicationId = applicationId
    }
}

/// Trust and proxy settings for requests to a set of hosts, instead of the pipeline's own.
package struct ScopedTransport: Sendable, Hashable {
    /// The hosts, lowercase, without IPv6 brackets or trailing dots.
    package var hosts: Set<String>
    /// A PEM file of CA certificates trusted for these hosts, on top of the pipeline's trust, or
    /// alone when `trustSystemRoots` is `false`.
    package var additionalTrustedCAFile: String?
    /// Whether the system's CA store (and the pipeline's own extra CA) is trusted for these hosts.
    package var trustSystemRoots: Bool
    /// The proxy for these hosts; `nil`: the pipeline's.
    package var proxy: ProxyConfiguration?

    package init(
        hosts: Set<String>, additionalTrustedCAFile: String?, trustSystemRoots: Bool, proxy: ProxyConfiguration?
    ) {
        self.hosts = hosts
        self.additionalTrustedCAFile = additionalTrustedCAFile
        self.trustSystemRoots = trustSystemRoots
        self.proxy = proxy
    }

    /// Whether a request to `url` uses these settings.
    package func applies(to url: URL) -> Bool {
        guard var host = url.host?.lowercased() else { return false }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        while host.hasSuffix(".") { host.removeLast() }
        return hosts.contains(host)
    }
}

/// One outgoing request.
package struct PipelineRequest: Sendable {
    /// Whether the request may travel over plain HTTP.
    package enum Transport: Sendable {
        /// Carries a credential: `https` only (loopback opt-in aside).
        case httpsRequired
        /// Plain HTTP is allowed by design (IMDS).
        case plainHTTPAllowed
    }

    package var method: HTTPMethod
    package var url: URL
    package var headers: HTTPHeaders
    package var body: [UInt8]?
    package var transport: Transport
    /// A short name for logs, such as `mixedreality.sts.get_token`.
    package var operation: String
    /// Builds the body of each retry anew, for bodies that must not be sent twice (a client
    /// assertion carries a one-time `jti`); `nil`: every try sends `body`.
    package var bodyForRetry: (@Sendable () throws -> [UInt8])?

    package init(
        method: HTTPMethod,
        url: URL,
        headers: HTTPHeaders = [:],
        body: [UInt8]? = nil,
        transport: Transport = .httpsRequired,
        operation: String
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.transport = transport
        self.operation = operation
    }
}

/// One response, its body read in full (within the bound).
package struct PipelineResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    package var body: [UInt8]
    /// Tries made, 1 when the first succeeded.
    package var tries: Int
    /// The server's requested wait, if it sent one.
    package var retryAfter: Duration?
}

/// The HTTP pipeline: retries, per-try timeout, bounded bodies, TLS with an extra CA bundle,
/// plain-HTTP refusal, proxies, `User-Agent` and sanitized logging, over one shared
/// async-http-client per proxy.
package struct HTTPPipeline: Sendable {
    package let options: HTTPPipelineOptions
    /// How requests travel: trust and proxies, and for the hosts of
    /// ``HTTPPipelineOptions/scopedTransport`` their own.
    private let route: Route
    private let scoped: (transport: ScopedTransport, route: Route)?
    private let userAgent: String
    private let sanitizer = LogSanitizer()
    private let environmentLogLevel: Logger.Level?
    private let sleep: @Sendable (Duration) async throws -> Void

    /// Whom TLS trusts and which proxies carry the requests, for one group of hosts.
    private struct Route: Sendable {
        var tls: TLSConfiguration
        var proxies: ProxySettings
    }

    /// One client for the whole process per proxy (`nil`: direct): redirects are not followed (a
    /// bearer token must not travel to another host) and its own logging is off (ours is
    /// sanitized). A proxy tunnels https through `CONNECT`: it sees the host name, never the
    /// request.
    private static let clients = Mutex<[HTTPClient.Configuration.Proxy?: HTTPClient]>([:])

    private static func client(proxy: HTTPClient.Configuration.Proxy?) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[proxy] { return client }
            let client = makeClient(proxy: proxy)
            clients[proxy] = client
            return client
        }
    }

    private static func makeClient(proxy: HTTPClient.Configuration.Proxy?) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.proxy = proxy
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        configuration.timeout.connect = .seconds(10)
        // The pipeline retries by its own policy; a TLS failure must fail at once, not be
        // retried by the pool until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        // A sidecar refreshes in bursts hours apart: keep a connection for the rest of a burst
        // (its requests follow each other within milliseconds; a retry's backoff may reconnect),
        // not for the default minute: the idle daemon then holds no socket, runs no timer, and
        // gives its memory back half a second after its last refresh (MemoryTrimmer).
        configuration.connectionPool.idleTimeout = .milliseconds(250)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The CA bundles read so far: every account's pipeline trusts the same `tls.caFile`, read
    /// and parsed once, and again when the file is replaced (a rotated CA, a reload).
    private static let bundles = FileVersionCache<[NIOSSLCertificate]>()

    private static func certificates(_ caFile: String) throws(AzureCoreError) -> [NIOSSLCertificate] {
        try bundles.value(caFile) { () throws(AzureCoreError) -> [NIOSSLCertificate] in
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw AzureCoreError(
                    .tls,
                    "cannot read the CA bundle \(caFile): give a readable PEM file of CA certificates",
                    cause: error
                )
            }
            guard !certificates.isEmpty else {
                throw AzureCoreError(.tls, "\(caFile) holds no PEM certificate")
            }
            return certificates
        }
    }

    /// A client TLS configuration trusting `caFile` and `under` on top of the system's CA store, or
    /// `caFile` alone when `systemRoots` is `false`.
    private static func tls(
        caFile: String?, systemRoots: Bool, under: String?
    ) throws(AzureCoreError)
        -> TLSConfiguration
    {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        let files = [under, caFile].compactMap { $0 }
        if !systemRoots {
            guard let caFile else {
                throw AzureCoreError(
                    .tls, "trusting no system CA needs a CA bundle of its own: give additionalTrustedCAFile")
            }
            tls.trustRoots = .certificates(try certificates(caFile))
        } else if !files.isEmpty {
            var extra: [NIOSSLCertificate] = []
            for file in files { extra += try certificates(file) }
            tls.additionalTrustRoots = [.certificates(extra)]
        }
        return tls
    }

    /// Creates a pipeline.
    /// - Parameters:
    ///   - options: The options.
    ///   - component: The component named in `User-Agent`, such as `mixedreality-authentication`.
    /// - Throws: ``AzureCoreError`` (`tls`) when the extra CA file cannot be read,
    ///   (`invalidArgument`) when a proxy URL is not usable.
    package init(
        options: HTTPPipelineOptions,
        component: String
    ) throws(AzureCoreError) {
        let environment = options.environment ?? ProcessInfo.processInfo.environment
        self.options = options
        let proxies = try ProxySettings.resolve(option: options.proxy, environment: environment)
        route = Route(
            tls: try Self.tls(
                caFile: options.additionalTrustedCAFile, systemRoots: options.trustSystemRoots, under: nil),
            proxies: proxies)
        if let transport = options.scopedTransport {
            // The scoped hosts' own CA comes on top of the pipeline's trust (system roots and the
            // pipeline's CA), or replaces all of it when they trust no system root.
            let tls = try Self.tls(
                caFile: transport.additionalTrustedCAFile, systemRoots: transport.trustSystemRoots,
                under: transport.trustSystemRoots ? options.additionalTrustedCAFile : nil)
            let proxies = try transport.proxy.map { (proxy) throws(AzureCoreError) in
                try ProxySettings.resolve(option: proxy, environment: environment)
            }
            scoped = (transport, Route(tls: tls, proxies: proxies ?? self.route.proxies))
        } else {
            scoped = nil
        }
        var agent = "azsdk-swift-\(component)/\(ReleaseVersion.current) (Swift; Linux)"
        if let applicationId = options.applicationId, !applicationId.isEmpty {
            agent = "\(applicationId) \(agent)"
        }
        self.userAgent = agent
        self.environmentLogLevel = AzureLogging.levelFromEnvironment(environment)
        self.sleep = options.sleep ?? { try await Task.sleep(for: $0) }
    }

    /// Sends a request, retrying as the options say, and returns the last response.
    ///
    /// Non-2xx statuses are returned, not thrown: the caller maps them to its own error.
    /// - Throws: ``AzureCoreError`` for refused plain HTTP, transport and TLS failures, timeouts,
    ///   oversized bodies and cancellation.
    package func send(
        _ request: PipelineRequest, logger baseLogger: Logger
    ) async throws(AzureCoreError)
        -> PipelineResponse
    {
        var logger = baseLogger
        logger[metadataKey: LogKeys.operation] = "\(request.operation)"
        // AZURE_LOG_LEVEL turns on request/response lines, as in the Azure SDKs.
        let lineLevel: Logger.Level
        if let environmentLogLevel {
            logger.logLevel = min(logger.logLevel, environmentLogLevel)
            lineLevel = .info
        } else {
            lineLevel = .debug
        }
        try checkTransport(request, logger: logger)
        var generator = SystemRandomNumberGenerator()
        var retry = 0
        while true {
            if Task.isCancelled {
                throw AzureCoreError(.cancelled, "the request was cancelled", isRetriable: false)
            }
            switch try await attempt(request, retry: retry, logger: logger, lineLevel: lineLevel) {
            case .success(let response):
                guard let delay = delay(after: response, retry: retry, using: &generator, logger: logger) else {
                    return response
                }
                try await wait(delay)
            case .failure(let error):
                guard let delay = delay(after: error, retry: retry, using: &generator, logger: logger) else {
                    throw error
                }
                try await wait(delay)
            }
            retry += 1
        }
    }

    /// One try (the `retry`th retry), logged: its request line, then its response or failure.
    /// - Throws: When the body of a retry cannot be built.
    private func attempt(
        _ request: PipelineRequest, retry: Int, logger: Logger, lineLevel: Logger.Level
    ) async throws(AzureCoreError) -> Result<PipelineResponse, AzureCoreError> {
        let started = ContinuousClock.now
        logger.log(
            level: lineLevel, "Request",
            metadata: [
                LogKeys.method: "\(request.method.rawValue)",
                LogKeys.url: "\(sanitizer.sanitize(url: request.url))",
                LogKeys.requestHeaders: "\(sanitizer.sanitize(headers: headers(for: request)))",
                LogKeys.proxy: "\(proxy(for: request)?.display ?? "")",
                LogKeys.attempt: .integer(retry),
            ]
        )
        var attempt = request
        if retry > 0, let bodyForRetry = request.bodyForRetry {
            do {
                attempt.body = try bodyForRetry()
            } catch {
                throw AzureCoreError(
                    .invalidArgument, "cannot build the body of the retry: \(error)", isRetriable: false)
            }
        }
        do {
            var response = try await sendOnce(attempt, tries: retry + 1)
            logger.log(
                level: lineLevel, "Response",
                metadata: [
                    LogKeys.status: .integer(response.status),
                    LogKeys.responseHeaders: "\(sanitizer.sanitize(headers: response.headers))",
                    LogKeys.durationMs: .integer(Int((ContinuousClock.now - started).milliseconds)),
                    LogKeys.attempt: .integer(retry),
                ]
            )
            response.retryAfter = RetryAfter.parse(response.headers)
            return .success(response)
        } catch {
            // A failure that will be retried is logged by the retry's line.
            if !error.isRetriable || retry >= options.retry.maxRetries {
                logger.log(
                    level: lineLevel, "Request failed",
                    metadata: [
                        LogKeys.errorType: "\(error.code)", LogKeys.errorMessage: "\(error.message)",
                        LogKeys.durationMs: .integer(Int((ContinuousClock.now - started).milliseconds)),
                        LogKeys.attempt: .integer(retry),
                    ]
                )
            }
            return .failure(error)
        }
    }

    /// How long to wait before retrying after `response`, or `nil` to return it: its status is not
    /// retriable, the retries are spent, or the server asked for a longer wait than the pipeline
    /// sleeps (`Retry-After` over `maxRetryAfter`: the caller decides).
    private func delay<R: RandomNumberGenerator>(
        after response: PipelineResponse, retry: Int, using generator: inout R, logger: Logger
    ) -> Duration? {
        guard options.retry.retriableStatuses.contains(response.status), retry < options.retry.maxRetries else {
            return nil
        }
        let delay: Duration
        if let requested = response.retryAfter {
            guard requested <= options.retry.maxRetryAfter else {
                logger.info(
                    "Server asked to wait longer than the pipeline sleeps; returning to the caller",
                    metadata: [
                        LogKeys.status: .integer(response.status),
                        LogKeys.delayMs: .integer(Int(requested.milliseconds)),
                    ]
                )
                return nil
            }
            delay = requested
        } else {
            delay = options.retry.backoff(retry: retry, using: &generator)
        }
        logger.info(
            "Retrying after status",
            metadata: [
                LogKeys.status: .integer(response.status), LogKeys.delayMs: .integer(Int(delay.milliseconds)),
                LogKeys.attempt: .integer(retry + 1),
            ]
        )
        return delay
    }

    /// How long to wait before retrying after a failed try, or `nil` to throw: not retriable, or
    /// the retries are spent.
    private func delay<R: RandomNumberGenerator>(
        after error: AzureCoreError, retry: Int, using generator: inout R, logger: Logger
    ) -> Duration? {
        guard error.isRetriable, retry < options.retry.maxRetries else { return nil }
        let delay = options.retry.backoff(retry: retry, using: &generator)
        logger.info(
            "Retrying after transport error",
            metadata: [
                LogKeys.errorType: "\(error.code)", LogKeys.errorMessage: "\(error.message)",
                LogKeys.delayMs: .integer(Int(delay.milliseconds)), LogKeys.attempt: .integer(retry + 1),
            ]
        )
        return delay
    }

    private func wait(_ delay: Duration) async throws(AzureCoreError) {
        do {
            try await sleep(delay)
        } catch {
            throw AzureCoreError(.cancelled, "the request was cancelled while waiting to retry", isRetriable: false)
        }
    }

    private func checkTransport(_ request: PipelineRequest, logger: Logger) throws(AzureCoreError) {
        let scheme = request.url.scheme?.lowercased()
        guard scheme == "https" || scheme == "http", let host = request.url.host, !host.isEmpty else {
            throw AzureCoreError(
                .invalidArgument, "\(sanitizer.sanitize(url: request.url)) is not an absolute http(s) URL")
        }
        guard request.url.user == nil, request.url.password == nil else {
            throw AzureCoreError(
                .invalidArgument,
                "\(sanitizer.sanitize(url: request.url)) carries user info (user@host): refusing to send it")
        }
        guard scheme == "http", request.transport == .httpsRequired else { return }
        if options.allowInsecureLoopbackHTTP && Self.isLoopback(host) {
            logger.warning(
                "INSECURE: sending a credential over plain HTTP because allowInsecureLoopbackHTTP is set; tests only",
                metadata: [LogKeys.url: "\(sanitizer.sanitize(url: request.url))"]
            )
            return
        }
        throw AzureCoreError(
            .insecureTransport,
            "refusing to send a credential over plain HTTP to \(sanitizer.sanitize(url: request.url)): use an https:// URL"
        )
    }

    /// How a request to `url` travels: the scoped hosts' route, or the pipeline's.
    private func route(for url: URL) -> Route {
        if let scoped, scoped.transport.applies(to: url) { return scoped.route }
        return route
    }

    /// The proxy a request goes through, or `nil` to connect directly. A plain-HTTP request that
    /// carries a credential in a header (the managed identity endpoint's `X-IDENTITY-HEADER`, say)
    /// never goes through a proxy: the proxy would read it.
    package func proxy(for request: PipelineRequest) -> ProxySettings.Server? {
        if request.url.scheme?.lowercased() == "http",
            request.headers.contains(where: { !LogSanitizer.allowedHeaders.contains($0.name.lowercased()) })
        {
            return nil
        }
        return route(for: request.url).proxies.server(for: request.url)
    }

    /// Whether `host` is a loopback IP literal (never a name: see ``IPAddressRule/isLoopback(_:)``).
    package static func isLoopback(_ host: String) -> Bool { IPAddressRule.isLoopback(host) }

    private func headers(for request: PipelineRequest) -> HTTPHeaders {
        var headers = request.headers
        headers.replaceOrAdd(name: "User-Agent", value: userAgent)
        return headers
    }

    private func sendOnce(_ request: PipelineRequest, tries: Int) async throws(AzureCoreError) -> PipelineResponse {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = request.method
        outgoing.headers = headers(for: request)
        if let body = request.body {
            outgoing.body = .bytes(ByteBuffer(bytes: body))
        }
        outgoing.tlsConfiguration = route(for: request.url).tls
        let deadline = NIODeadline.now() + .nanoseconds(options.perTryTimeout.nanoseconds)
        let proxy = proxy(for: request)
        do {
            let response = try await Self.client(proxy: proxy?.configuration).execute(
                outgoing, deadline: deadline, logger: AzureLogging.disabledLogger)
            let body = try await response.body.collect(upTo: options.maxResponseBodyBytes)
            return PipelineResponse(
                status: Int(response.status.code),
                headers: response.headers,
                body: Array(buffer: body),
                tries: tries,
                retryAfter: nil
            )
        } catch {
            throw classify(error, request: request, proxy: proxy)
        }
    }

    private func classify(
        _ error: any Error, request: PipelineRequest, proxy: ProxySettings.Server?
    )
        -> AzureCoreError
    {
        let url = sanitizer.sanitize(url: request.url)
        let target = proxy.map { "\(url) (through the proxy \($0.display))" } ?? url
        if error is CancellationError {
            return AzureCoreError(.cancelled, "the request to \(target) was cancelled", isRetriable: false)
        }
        if error is NIOTooManyBytesError {
            return AzureCoreError(
                .responseTooLarge,
                "the response from \(target) is larger than \(options.maxResponseBodyBytes) bytes; refusing to read it",
                isRetriable: false
            )
        }
        if let clientError = error as? HTTPClientError {
            switch clientError {
            case .deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout:
                return AzureCoreError(
                    .timeout,
                    "no complete answer from \(target) within \(options.perTryTimeout) (\(clientError.shortDescription))",
                    cause: clientError
                )
            case .cancelled:
                return AzureCoreError(.cancelled, "the request to \(target) was cancelled", isRetriable: false)
            case .proxyAuthenticationRequired:
                return AzureCoreError(
                    .transport,
                    "the proxy refused the tunnel to \(target): it asks for credentials (407); give them in the proxy URL (http://user:password@host:port)",
                    cause: clientError)
            case .invalidProxyResponse:
                return AzureCoreError(
                    .transport, "the proxy refused the tunnel to \(target) (its answer to CONNECT was not 200)",
                    cause: clientError)
            case .httpProxyHandshakeTimeout:
                return AzureCoreError(
                    .timeout, "the proxy did not open the tunnel to \(target) in time", cause: clientError)
            default:
                break
            }
        }
        if Self.isTLSFailure(error) {
            return AzureCoreError(
                .tls,
                "TLS with \(target) failed: the server certificate is not trusted, expired or for another host"
                    + " (trust a private CA with the CA bundle option)",
                cause: error,
                isRetriable: false
            )
        }
        return AzureCoreError(.transport, "the connection to \(target) failed", cause: error)
    }

    private static func isTLSFailure(_ error: any Error) -> Bool {
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError { return true }
        let text = String(reflecting: error)
        return text.contains("NIOSSL") || text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("handshake")
    }
}
