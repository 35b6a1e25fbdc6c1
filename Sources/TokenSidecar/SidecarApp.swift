import AzureCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The sidecar assembled from a configuration: the refresh loops and the probe server. Shared by
/// `main` and the tests.
public struct SidecarApp: Sendable {
    public let configuration: SidecarConfiguration
    let service: SidecarService
    let probe: ProbeServer?
    let runtime: SidecarRuntime
    let factory: CredentialFactory
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    /// Builds the app.
    /// - Parameters:
    ///   - configuration: The validated configuration.
    ///   - configPath: The file it came from (watched for changes), if any.
    ///   - environment: Where `AZURE_*` defaults come from.
    ///   - logger: The logger (its handler's level follows `levelBox`).
    ///   - levelBox: The shared log level, changed on reload.
    ///   - allowInsecureLoopbackHTTP: Tests only.
    ///   - onListening: Called with the probe server's port once it listens.
    /// - Throws: ``SidecarError`` when the TLS bundle cannot be read.
    public static func build(
        configuration: SidecarConfiguration,
        configPath: String?,
        environment: [String: String],
        logger: Logger,
        levelBox: LogLevelBox,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws -> SidecarApp {
        var pipeline = HTTPPipelineOptions(applicationId: nil)
        pipeline.additionalTrustedCAFile = configuration.tls.caFile
        let registry = PrometheusCollectorRegistry()
        let metrics = SidecarMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let notifier: Notifier
        do {
            notifier = try Notifier(metrics: metrics, pipelineOptions: pipeline)
        } catch {
            throw SidecarError(.configuration, "tls.caFile: \(error)", isRetriable: false)
        }
        let trimmer = MemoryTrimmer(logger: logger)
        let runtime = SidecarRuntime(
            sink: AtomicFileSink(), board: StatusBoard(), metrics: metrics,
            limiter: ConcurrencyLimiter(limit: configuration.refresh.maxConcurrent), notifier: notifier, logger: logger,
            trimmer: trimmer)
        let factory = CredentialFactory(environment: environment, pipeline: pipeline)
        let health = ProbeFlag()
        let service = SidecarService(
            configuration: configuration, configPath: configPath, environment: environment, runtime: runtime,
            factory: factory, health: health, levelBox: levelBox)
        var probe: ProbeServer?
        if let (host, port) = configuration.server.hostAndPort {
            probe = ProbeServer(
                host: host, port: port, board: runtime.board, health: health, registry: registry,
                readyMinValidity: configuration.server.readyMinValidity.duration.seconds, logger: logger,
                onListening: onListening)
        }
        return SidecarApp(
            configuration: configuration, service: service, probe: probe, runtime: runtime, factory: factory,
            registry: registry, logger: logger)
    }

    /// Runs until SIGTERM or SIGINT (or graceful shutdown of the surrounding group).
    public func run() async throws {
        var group = ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(25)
        group.cancellationSignals = []
        try await ServiceGroup(configuration: group).run()
    }

    /// The services, probe server first: first in, last out, so probes answer until the end.
    var services: [any Service] { (probe.map { [$0] } ?? []) + [service, runtime.trimmer] }

    /// Writes every account's token once (adopting valid files) and returns the accounts that
    /// failed, with why.
    public func runOnce() async -> [(account: String, reason: String)] {
        await withTaskGroup(of: (String, String?).self) { group in
            for account in configuration.accounts {
                group.addTask {
                    do {
                        let refresher = try AccountRefresher(
                            account: account, policy: RefreshPolicy(configuration.refresh), factory: factory, runtime: runtime)
                        if refresher.prepare() != nil { return (account.name.value, nil) }
                        switch await refresher.attempt() {
                        case .failed(let kind, let message): return (account.name.value, "\(kind): \(message)")
                        default: return (account.name.value, nil)
                        }
                    } catch {
                        return (account.name.value, "\(error)")
                    }
                }
            }
            var failures: [(String, String)] = []
            for await (name, reason) in group {
                if let reason { failures.append((name, reason)) }
            }
            return failures.sorted { $0.0 < $1.0 }
        }
    }
}
