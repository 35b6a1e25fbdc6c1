import AzureCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTLS
public import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// How the webhook runs.
public struct WebhookOptions: Sendable {
    /// `host:port` of the HTTPS server (`/mutate`).
    public var address: String
    /// `host:port` of the plain HTTP server (`/healthz`, `/readyz`, `/metrics`).
    public var probeAddress: String
    /// The PEM certificate (chain) served, reloaded when it changes.
    public var certificateFile: String
    /// Its PEM private key.
    public var keyFile: String
    /// How often the certificate files are checked for changes.
    public var certificateCheckInterval: Duration
    package var settings: InjectorSettings

    package init(
        address: String = "0.0.0.0:8443", probeAddress: String = "0.0.0.0:8080", certificateFile: String, keyFile: String,
        certificateCheckInterval: Duration = .seconds(5), settings: InjectorSettings
    ) {
        self.address = address
        self.probeAddress = probeAddress
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.certificateCheckInterval = certificateCheckInterval
        self.settings = settings
    }
}

/// The bound ports, once each server listens.
public enum WebhookListener: Sendable {
    case mutate(Int)
    case probes(Int)
}

/// The mutating admission webhook: `/mutate` over HTTPS, probes and metrics over HTTP. Shared
/// by `main` and the tests.
public struct WebhookApp: Sendable {
    let probes: WebhookProbeServer
    let server: WebhookServer
    let logger: Logger

    /// Builds the webhook.
    /// - Parameters:
    ///   - options: Addresses, certificate files, injection settings.
    ///   - logger: The logger.
    ///   - onListening: Called as each server starts listening.
    /// - Throws: ``SidecarError`` when an address is not `host:port`.
    public static func build(
        options: WebhookOptions, logger: Logger, onListening: @escaping @Sendable (WebhookListener) -> Void = { _ in }
    ) throws -> WebhookApp {
        guard let mutate = ServerConfiguration(address: options.address).hostAndPort else {
            throw SidecarError(.configuration, "--address \(options.address) must be host:port", isRetriable: false)
        }
        guard let probe = ServerConfiguration(address: options.probeAddress).hostAndPort else {
            throw SidecarError(.configuration, "--probe-address \(options.probeAddress) must be host:port", isRetriable: false)
        }
        let registry = PrometheusCollectorRegistry()
        let metrics = WebhookMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let readiness = ProbeFlag()
        let server = WebhookServer(
            host: mutate.host, port: mutate.port,
            store: CertificateStore(certificateFile: options.certificateFile, keyFile: options.keyFile),
            handler: AdmissionHandler(injector: Injector(settings: options.settings)), metrics: metrics,
            interval: options.certificateCheckInterval, readiness: readiness, logger: logger,
            onListening: { onListening(.mutate($0)) })
        let probes = WebhookProbeServer(
            host: probe.host, port: probe.port, readiness: readiness, registry: registry, logger: logger,
            onListening: { onListening(.probes($0)) })
        return WebhookApp(probes: probes, server: server, logger: logger)
    }

    /// Runs until SIGTERM or SIGINT.
    public func run() async throws {
        // The probe server first, so that it stops last.
        var group = ServiceGroupConfiguration(services: [.init(service: probes), .init(service: server)], logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(10)
        group.cancellationSignals = []
        try await ServiceGroup(configuration: group).run()
    }
}

/// `/mutate` over HTTPS, started once the first certificate loads; the certificate files are
/// checked every `interval` and a new certificate is used from the next handshake.
struct WebhookServer: Service {
    let host: String
    let port: Int
    let store: CertificateStore
    let handler: AdmissionHandler
    let metrics: WebhookMetrics
    let interval: Duration
    let readiness: ProbeFlag
    let logger: Logger
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        var first: CertificateStore.Loaded?
        while first == nil {
            first = checkCertificate()
            if first == nil {
                guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil else { return }
            }
        }
        guard let first else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil {
                    _ = checkCertificate()
                }
            }
            group.addTask { try await serve(store.tlsConfiguration(first)) }
            // Both end on graceful shutdown (the server after its requests in flight); a server
            // that fails stops the checker too.
            do {
                try await group.waitForAll()
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    /// Loads changed files; returns the certificate when a new one loaded.
    private func checkCertificate() -> CertificateStore.Loaded? {
        switch store.check() {
        case .unchanged:
            return nil
        case .loaded(let loaded):
            metrics.reload(success: true, notAfter: loaded.notAfter)
            logger.info(
                "serving certificate loaded",
                metadata: ["file": "\(store.certificateFile)", "notAfter": "\(loaded.notAfter)"])
            return loaded
        case .failed(let reason):
            metrics.reload(success: false)
            logger.error(
                store.current == nil
                    ? "no serving certificate yet; /readyz fails until one loads"
                    : "the new certificate files cannot be used; the loaded certificate stays",
                metadata: [SidecarLogKeys.error: "\(reason)"])
            return nil
        }
    }

    private func serve(_ tls: TLSConfiguration) async throws {
        let router = Router()
        router.post("/mutate") { request, _ -> Response in
            let started = ContinuousClock.now
            let answer: AdmissionHandler.Answer
            do {
                let body = try await request.body.collect(upTo: AdmissionHandler.maxBodyBytes)
                answer = handler.answer(Array(buffer: body))
            } catch {
                answer = AdmissionHandler.invalid("the body is larger than 3 MiB or was cut short")
            }
            metrics.request(answer.result, duration: ContinuousClock.now - started)
            logger.log(
                level: answer.result == "invalid" || answer.result == "denied" ? .warning : .info, "admission review",
                metadata: [
                    "result": "\(answer.result)", SidecarLogKeys.reason: "\(answer.reason)", "pod": "\(answer.subject)",
                ])
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
        }
        router.get("/healthz") { _, _ in Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))) }
        defer { readiness.set(false) }
        try await ProbeServer.serve(
            router, server: try .tls(.http1(), tlsConfiguration: tls), host: host, port: port,
            serverName: "mr-token-sidecar-webhook", what: "webhook", logger: logger
        ) { [readiness, onListening] bound in
            readiness.set(true)
            onListening(bound)
        }
    }
}

/// `/healthz`, `/readyz` (a certificate is loaded and `/mutate` listens) and `/metrics`.
struct WebhookProbeServer: Service {
    let host: String
    let port: Int
    let readiness: ProbeFlag
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let router = Router()
        router.get("/healthz") { _, _ in ProbeServer.json(.ok, ["status": "ok"]) }
        router.get("/readyz") { _, _ in
            readiness.isSet
                ? ProbeServer.json(.ok, ["status": "ready"])
                : ProbeServer.json(.serviceUnavailable, ["status": "no serving certificate loaded yet"])
        }
        router.get("/metrics") { _, _ in ProbeServer.metrics(registry) }
        try await ProbeServer.serve(
            router, host: host, port: port, serverName: "mr-token-sidecar-webhook", what: "probe server", logger: logger,
            onListening: onListening)
    }
}
