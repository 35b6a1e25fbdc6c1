import AzureCore
package import HTTPTypes
package import Hummingbird
package import HummingbirdCore
package import Logging
import NIOCore
package import Prometheus

/// How the sidecar's and the webhook's HTTP servers run and answer.
package enum HTTPServing {
    /// Serves `router` on `host:port` until graceful shutdown, letting the requests in flight
    /// finish. Hummingbird logs at warning and above only; "`what` listening" is logged with the
    /// bound port, which `onListening` receives.
    /// - Parameters:
    ///   - router: The routes.
    ///   - server: HTTP/1 (default) or HTTP/1 over TLS.
    ///   - host: The address to bind.
    ///   - port: The port (0 picks one).
    ///   - serverName: The `Server` header.
    ///   - what: What the server is, for the log line.
    ///   - logger: Where it logs.
    ///   - onListening: Called with the bound port.
    /// - Throws: When the address cannot be bound.
    package static func serve(
        _ router: Router<BasicRequestContext>, server: HTTPServerBuilder = .http1(), host: String, port: Int,
        serverName: String, what: String, logger: Logger, onListening: @escaping @Sendable (Int) -> Void
    ) async throws {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let app = Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("\(what) listening", metadata: ["address": "\(host):\(bound)"])
                onListening(bound)
            },
            logger: quiet
        )
        try await app.run()
    }

    /// A JSON answer in canonical form (sorted keys).
    package static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSON.encode(value))))
    }

    /// The Prometheus text of a registry.
    package static func metrics(_ registry: PrometheusCollectorRegistry) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
}
