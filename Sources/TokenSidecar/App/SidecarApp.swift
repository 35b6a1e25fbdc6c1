package import AzureCore
package import DaemonSupport
package import Logging
import Metrics
import Prometheus
import ServiceLifecycle
package import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The sidecar assembled from a configuration: the refresh loops, the probe server and the
/// memory trimmer. A `Service`: the executable runs it in its `ServiceGroup` (SIGTERM is the
/// graceful signal), the demo next to the emulator, the tests with graceful shutdown. `main`,
/// the demo and the tests share ``build(configuration:configPath:environment:allowedHosts:version:logger:levelBox:onListening:)``.
package struct SidecarApp: Service {
    package let configuration: SidecarConfiguration
    let service: RefreshService
    let probe: ProbeServer?
    let refresh: RefreshEnvironment<SystemWallClock>
    let trimmer: MemoryTrimmer
    let factory: CredentialFactory
    let logger: Logger

    /// Builds the app.
    /// - Parameters:
    ///   - configuration: The validated configuration.
    ///   - configPath: The file it came from (watched for changes), if any.
    ///   - environment: Where `AZURE_*` defaults come from.
    ///   - allowedHosts: The hosts of `--allowed-hosts`, for reloads.
    ///   - version: The version `/status` reports and the user agent names.
    ///   - logger: The logger (its handler's level follows `levelBox`).
    ///   - levelBox: The shared log level, changed on reload.
    ///   - onListening: Called with the probe server's port once it listens.
    /// - Throws: ``SidecarError`` (`configuration`) when the CA bundle cannot be read.
    package static func build(
        configuration: SidecarConfiguration,
        configPath: String?,
        environment: [String: String],
        allowedHosts: [String] = [],
        version: String,
        logger: Logger,
        levelBox: LogLevelBox,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) throws -> SidecarApp {
        var pipeline = HTTPPipelineOptions(applicationId: "mr-token-sidecar/\(version)")
        pipeline.additionalTrustedCAFile = configuration.tls.caFile
        pipeline.proxy = configuration.proxy?.pipelineProxy
        let registry = MetricsRegistry(component: "sidecar", descriptions: SidecarMetrics.descriptions)
        let metrics = SidecarMetrics(factory: registry.factory)
        let trimmer = MemoryTrimmer(logger: logger)
        let refresh = RefreshEnvironment(
            clock: SystemWallClock(), sink: AtomicFileSink(), board: StatusBoard(), metrics: metrics,
            limiter: ConcurrencyLimiter(limit: configuration.refresh.maxConcurrent),
            notifier: try Notifier(pipelineOptions: pipeline, metrics: metrics), logger: logger,
            onActivity: { trimmer.noteActivity() })
        let factory = CredentialFactory(environment: environment, pipeline: pipeline)
        let health = ProbeFlag()
        let service = RefreshService(
            configuration: configuration, configPath: configPath, environment: environment,
            allowedHosts: allowedHosts, refresh: refresh, factory: factory, health: health, levelBox: levelBox)
        var probe: ProbeServer?
        if let (host, port) = configuration.server.hostAndPort {
            probe = ProbeServer(
                host: host, port: port, board: refresh.board, health: health, registry: registry,
                readyMinValidity: configuration.server.readyMinValidity.duration.seconds, version: version,
                exposeStatus: configuration.server.exposeStatus,
                logger: logger, onListening: onListening)
        }
        return SidecarApp(
            configuration: configuration, service: service, probe: probe, refresh: refresh, trimmer: trimmer,
            factory: factory, logger: logger)
    }

    /// Runs until graceful shutdown: the probe server first, so that it stops last and probes
    /// answer until the end.
    package func run() async throws {
        let services: [any Service] = (probe.map { [$0] } ?? []) + [service, trimmer]
        var group = ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger)
        group.useProjectLogKeys()
        group.maximumGracefulShutdownDuration = .seconds(25)
        try await ServiceGroup(configuration: group).run()
    }

    /// Writes every account's token once (adopting valid files) and returns the accounts that
    /// failed, with why.
    package func runOnce() async -> [(account: String, error: any AzureError)] {
        await withTaskGroup(of: (String, (any AzureError)?).self) { group in
            for account in configuration.accounts {
                group.addTask {
                    let name = account.name.value
                    do {
                        let loop = AccountRefresher(
                            account: account, policy: configuration.refresh,
                            source: try factory.tokenSource(for: account),
                            environment: refresh)
                        return (name, await loop.runOnce()?.error)
                    } catch let error as any AzureError {
                        return (name, error)
                    } catch {
                        return (name, SidecarError(.configuration, "\(error)", isRetriable: false))
                    }
                }
            }
            var failures: [(String, any AzureError)] = []
            for await (name, error) in group {
                if let error { failures.append((name, error)) }
            }
            return failures.sorted { $0.0 < $1.0 }
        }
    }
}
