import AzureCore
package import DaemonSupport
public import Logging
import Metrics
import Prometheus
public import ServiceLifecycle
import SidecarConfig

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
    /// What a client of either server is allowed (connections, deadlines, requests in flight).
    package var limits: ServerLimits
    /// After SIGTERM, how long `/readyz` fails while `/mutate` still answers (the endpoints drop the
    /// pod before it stops taking reviews).
    public var shutdownDelay: Duration

    package init(
        address: String = "0.0.0.0:8443", probeAddress: String = "0.0.0.0:8080", certificateFile: String,
        keyFile: String, certificateCheckInterval: Duration = .seconds(5), settings: InjectorSettings,
        limits: ServerLimits = ServerLimits(), shutdownDelay: Duration = .zero
    ) {
        self.shutdownDelay = shutdownDelay
        self.address = address
        self.probeAddress = probeAddress
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.certificateCheckInterval = certificateCheckInterval
        self.settings = settings
        self.limits = limits
    }
}

/// The bound ports, once each server listens.
public enum WebhookListener: Sendable {
    case mutate(Int)
    case probes(Int)
}

/// The mutating admission webhook: `/mutate` over HTTPS, probes and metrics over HTTP. A
/// `Service`: the executable runs it in its `ServiceGroup`, the tests with graceful shutdown.
public struct WebhookApp: Service {
    let probes: WebhookProbeServer
    let server: WebhookServer
    let logger: Logger

    /// Builds the webhook.
    /// - Parameters:
    ///   - options: Addresses, certificate files, injection settings.
    ///   - logger: The logger.
    ///   - clock: What the webhook sleeps and times out on: the executable passes an event-loop
    ///     clock (an idle webhook never wakes), tests `ContinuousClock`.
    ///   - onListening: Called as each server starts listening.
    /// - Throws: ``InjectorError`` when an address is not `host:port`.
    public static func build(
        options: WebhookOptions, logger: Logger, clock: any Clock<Duration>,
        onListening: @escaping @Sendable (WebhookListener) -> Void = { _ in }
    ) throws -> WebhookApp {
        guard let mutate = ServerConfiguration(address: options.address).hostAndPort else {
            throw InjectorError(.invalidArgument, "--address \(options.address) must be host:port")
        }
        guard let probe = ServerConfiguration(address: options.probeAddress).hostAndPort else {
            throw InjectorError(.invalidArgument, "--probe-address \(options.probeAddress) must be host:port")
        }
        let registry = MetricsRegistry(component: "webhook", descriptions: WebhookMetrics.descriptions)
        let metrics = WebhookMetrics(factory: registry.factory)
        let readiness = ProbeFlag()
        let server = WebhookServer(
            host: mutate.host, port: mutate.port,
            store: CertificateStore(certificateFile: options.certificateFile, keyFile: options.keyFile),
            handler: AdmissionHandler(injector: Injector(settings: options.settings)), metrics: metrics,
            interval: options.certificateCheckInterval, limits: options.limits,
            lanes: AdmissionLanes(wait: options.limits.queueTimeout), readiness: readiness, logger: logger,
            clock: clock, onListening: { onListening(.mutate($0)) })
        let probes = WebhookProbeServer(
            host: probe.host, port: probe.port, readiness: readiness, registry: registry, limits: options.limits,
            logger: logger, clock: clock,
            onListening: { onListening(.probes($0)) })
        return WebhookApp(
            probes: probes, server: server, logger: logger,
            drain: ShutdownDelay(delay: options.shutdownDelay, readiness: readiness, logger: logger, clock: clock))
    }

    let drain: ShutdownDelay

    /// Runs the probe server and `/mutate` until graceful shutdown: `/readyz` fails first for the
    /// shutdown delay while `/mutate` still answers, then `/mutate` finishes its requests in
    /// flight and stops, the probe server last.
    public func run() async throws {
        var group = ServiceGroupConfiguration(
            services: [.init(service: probes), .init(service: server), .init(service: drain)], logger: logger)
        group.useProjectLogKeys()
        group.maximumGracefulShutdownDuration = drain.delay + .seconds(10)
        try await ServiceGroup(configuration: group).run()
    }
}

/// Last in the group, so first to hear of a graceful shutdown: fails `/readyz`, waits, returns.
struct ShutdownDelay: Service {
    let delay: Duration
    let readiness: ProbeFlag
    let logger: Logger
    let clock: any Clock<Duration>

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            return  // cancelled: no drain
        }
        readiness.set(false)
        guard delay > .zero else { return }
        logger.notice("shutting down: /readyz fails while /mutate still answers for the shutdown delay")
        try? await clock.sleep(for: delay)
    }
}
