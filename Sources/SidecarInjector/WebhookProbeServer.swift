import DaemonSupport
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// `/healthz`, `/readyz` (a certificate is loaded and `/mutate` listens) and `/metrics`.
struct WebhookProbeServer: Service {
    let host: String
    let port: Int
    let readiness: ProbeFlag
    let registry: MetricsRegistry
    let limits: ServerLimits
    let logger: Logger
    let clock: any Clock<Duration>
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let router = Router(context: PeerRequestContext.self)
        router.get("/healthz") { _, _ in HTTPServing.json(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            readiness.isSet
                ? HTTPServing.json(.ok, ["status": "ready"])
                : HTTPServing.json(.serviceUnavailable, ["status": "no serving certificate loaded yet"])
        }
        router.get("/metrics") { _, _ in HTTPServing.metrics(registry) }
        try await HTTPServing.serve(
            router, limits: limits, host: host, port: port, serverName: "mr-token-sidecar-webhook",
            what: "probe server",
            logger: logger, clock: clock,
            onListening: onListening)
    }
}
