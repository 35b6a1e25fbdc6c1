import AzureCore
package import HTTPTypes
package import Hummingbird
package import HummingbirdCore
import HummingbirdTLS
package import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
package import NIOSSL
import Prometheus
import ServiceLifecycle
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How the sidecar's and the webhook's HTTP servers run and answer.
package enum HTTPServing {
    /// Serves `router` on `host:port` until graceful shutdown, letting the requests in flight
    /// finish, within `limits`: a connection cap that displaces idle and half-open connections,
    /// deadlines for the first request, each request and the wait for the next, and a bound on
    /// requests in flight (more wait their turn, then get a 503). Hummingbird logs at warning and
    /// above only; "`what` listening" is logged with the bound port, which `onListening` receives.
    /// - Parameters:
    ///   - router: The routes.
    ///   - tls: HTTPS with this configuration; plain HTTP when `nil`.
    ///   - limits: What a client is allowed.
    ///   - host: The address to bind.
    ///   - port: The port (0 picks one).
    ///   - serverName: The `Server` header.
    ///   - what: What the server is, for the log line.
    ///   - logger: Where it logs.
    ///   - clock: What a request waiting for its turn times out on.
    ///   - onListening: Called with the bound port.
    /// - Throws: When the address cannot be bound or the TLS configuration cannot be used.
    package static func serve(
        _ router: Router<PeerRequestContext>, tls: TLSConfiguration? = nil, limits: ServerLimits = ServerLimits(),
        host: String, port: Int, serverName: String, what: String, logger: Logger, clock: any Clock<Duration>,
        onListening: @escaping @Sendable (Int) -> Void
    ) async throws {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let connections = ConnectionGuard(limits: limits)
        let server = HTTPServerBuilder { responder in
            let http = HTTP1Channel(
                responder: responder,
                configuration: .init(additionalChannelHandlers: [ConnectionRequestHandler(guard: connections)]))
            guard let tls else { return GuardedChannel(base: http, connections: connections) }
            return GuardedChannel(base: try TLSChannel(http, tlsConfiguration: tls), connections: connections)
        }
        router.add(
            middleware: InFlightLimit(
                limiter: ConcurrencyLimiter(limit: limits.maxRequestsInFlight), wait: limits.queueTimeout,
                clock: clock))
        // The server without Hummingbird's `Application`, whose `DateCache` service wakes the
        // process every second to format the `Date` header: `DateHeader` formats it when a
        // response needs it, at most once a second, and an idle daemon never wakes.
        let responder = router.buildResponder()
        let dates = DateHeader()
        let requestLogger = quiet
        let service = try server.buildServer(
            configuration: ServerConfiguration(address: .hostname(host, port: port), serverName: serverName),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: quiet,
            responder: { request, writer, channel in
                let context = PeerRequestContext(
                    source: ApplicationRequestContextSource(channel: channel, logger: requestLogger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch let error as HTTPParserError {
                    throw error
                } catch {
                    response = Response(status: .internalServerError)
                }
                response.headers[.date] = dates.now()
                response.headers[.server] = serverName
                try await writer.write(response: response.head, body: response.body)
            },
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.notice("\(what) listening", metadata: [LogKeys.listenAddress: "\(host):\(bound)"])
                onListening(bound)
            }
        )
        try await service.run()
    }

    /// A JSON answer in canonical form (sorted keys).
    package static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSON.encode(value))))
    }

    /// The Prometheus text of a registry.
    package static func metrics(_ registry: MetricsRegistry) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emit())))
    }
}

/// Bounds the requests in flight of a server: more wait their turn, at most `wait`, then get a
/// 503 with `Retry-After`. A request with a body passes: it would hold its place while the body
/// arrives, as slowly as a client likes, and the route that reads it bounds the work once it has
/// (the webhook's lanes).
struct InFlightLimit<Context: RequestContext>: RouterMiddleware {
    let limiter: ConcurrencyLimiter
    let wait: Duration
    let clock: any Clock<Duration>

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let length = request.headers[.contentLength].flatMap { Int($0) } ?? 0
        if length > 0 || request.headers[.transferEncoding] != nil {
            return try await next(request, context)
        }
        let response = try await limiter.withPermit(waitingAtMost: wait, on: clock) { try await next(request, context) }
        return response
            ?? Response(
                status: .serviceUnavailable, headers: [.retryAfter: "1", .contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"busy"}"#)))
    }
}

/// The `Date` header (RFC 9110's IMF-fixdate, ``HTTPDate/format(_:)``), formatted when asked and
/// kept for the rest of the second: no timer.
package final class DateHeader: Sendable {
    package init() {}

    private let cache = Mutex<(second: Int64, text: String)>((-1, ""))

    package func now() -> String {
        let second = Int64(Date().timeIntervalSince1970)
        return cache.withLock { cache in
            if cache.second != second { cache = (second, HTTPDate.format(second)) }
            return cache.text
        }
    }
}
