import AzureCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// A yes/no shared between a service and its probes: whether the refresh loops run (the
/// sidecar's `/healthz`), whether `/mutate` is served with a certificate (the webhook's `/readyz`).
final class ProbeFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set(_ newValue: Bool) { value.withLock { $0 = newValue } }
}

/// Serves `/healthz`, `/readyz`, `/status` and `/metrics` over plain HTTP.
struct ProbeServer: Service {
    let host: String
    let port: Int
    let board: StatusBoard
    let health: ProbeFlag
    let registry: PrometheusCollectorRegistry
    let readyMinValidity: TimeInterval
    let logger: Logger
    /// Called with the bound port once listening.
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let router = Router()
        router.get("/healthz") { _, _ in
            health.isSet
                ? Self.json(.ok, ["status": "ok"]) : Self.json(.serviceUnavailable, ["status": "not running"])
        }
        router.get("/readyz") { _, _ in
            let notReady = board.notReady(now: Date(), validity: readyMinValidity)
            if board.isEmpty || !notReady.isEmpty || !health.isSet {
                return Self.json(.serviceUnavailable, ReadyBody(status: "not ready", accounts: notReady))
            }
            return Self.json(.ok, ReadyBody(status: "ready", accounts: []))
        }
        router.get("/status") { _, _ in
            Self.json(.ok, StatusBody(version: ProjectInfo.version, accounts: board.snapshot()))
        }
        router.get("/metrics") { _, _ in Self.metrics(registry) }
        try await Self.serve(
            router, host: host, port: port, serverName: "mr-token-sidecar", what: "probe server", logger: logger,
            onListening: onListening)
    }

    /// The Prometheus text of a registry.
    static func metrics(_ registry: PrometheusCollectorRegistry) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }

    /// Serves `router` on `host:port` until graceful shutdown (the sidecar's and the webhook's
    /// servers): Hummingbird logs at warning and above only, and "`what` listening" is logged with
    /// the bound port, which `onListening` receives.
    static func serve(
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

    struct ReadyBody: Encodable {
        var status: String
        var accounts: [String]
    }

    struct StatusBody: Encodable {
        var version: String
        var accounts: [AccountStatus]
    }

    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(body))))
    }
}
