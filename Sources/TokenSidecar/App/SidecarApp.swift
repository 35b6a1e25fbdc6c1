import AzureCore
package import DaemonSupport
package import Logging
import ServiceLifecycle
package import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The sidecar assembled from a configuration: the refresh loops, the probe server and the read
/// tracker, on the clock, sink and token sources it is given. A `Service`: the executable runs it
/// in its `ServiceGroup` (SIGTERM is the graceful signal; SIGHUP becomes ``reload(reason:)``), the
/// demo next to the emulator, the tests in-process with `withService` or as a child process.
package struct SidecarApp<C: WallClock>: Service {
    package let configuration: SidecarConfiguration
    let service: RefreshService<C>
    let probe: ProbeServer<C>?
    package let refresh: RefreshEnvironment<C>
    let sources: any TokenSourceFactory
    let logger: Logger

    /// Builds the app.
    /// - Parameters:
    ///   - configuration: The validated configuration.
    ///   - configPath: The file it came from (watched for changes), if any.
    ///   - environment: Where `AZURE_*` defaults come from.
    ///   - version: The version `/status` reports and the user agent names.
    ///   - logger: The logger (its handler's level follows `levelBox`).
    ///   - levelBox: The shared log level, changed on reload.
    ///   - clock: What the app reads the time from and sleeps on: refreshes, retries, polls,
    ///     readiness and metrics. The executable's is the system's wall clock on an event-loop
    ///     timer; tests may pass a manual one.
    ///   - sink: Where token files are written (default: the atomic file writer).
    ///   - tokenSources: Where each account's tokens come from (default: its credential and the
    ///     STS, ``CredentialFactory``).
    ///   - onActivity: Told after each attempt (the executable's memory trimmer).
    ///   - onListening: Called with the probe server's port once it listens.
    ///   - once: For ``runOnce()`` only (`run --once`): no probe server, no metrics registry and
    ///     no read tracking, which would outlive the run for nothing (and closing an inotify
    ///     instance with watches waits for the kernel's next grace period, up to 20 ms of the
    ///     init container's exit).
    /// - Throws: ``SidecarError`` (`configuration`) when the CA bundle cannot be read.
    package static func build(
        configuration: SidecarConfiguration,
        configPath: String?,
        environment: [String: String],
        version: String,
        logger: Logger,
        levelBox: LogLevelBox,
        clock: C,
        sink: any TokenSink = AtomicFileSink(),
        tokenSources: (any TokenSourceFactory)? = nil,
        onActivity: @escaping @Sendable () -> Void = {},
        onListening: @escaping @Sendable (Int) -> Void = { _ in },
        once: Bool = false
    ) throws -> SidecarApp {
        var pipeline = configuration.pipelineOptions(applicationId: "mr-token-sidecar/\(version)")
        // Retries wait on the app's clock too (an event-loop timer in the executable).
        pipeline.sleep = { try await clock.sleep(for: $0) }
        let board = StatusBoard()
        let tracker = once ? nil : ReadTracker(board: board, clock: WallTime(clock), logger: logger)
        tracker?.track(configuration.accounts)
        let metrics = SidecarMetrics(board: board, clock: WallTime(clock), tracksReads: tracker != nil)
        let refresh = RefreshEnvironment(
            clock: clock, sink: sink, board: board, metrics: metrics,
            limiter: ConcurrencyLimiter(limit: configuration.refresh.maxConcurrent),
            notifier: try Notifier(pipelineOptions: pipeline, metrics: metrics), logger: logger,
            onActivity: onActivity, readTracker: tracker)
        let sources = tokenSources ?? CredentialFactory(environment: environment, pipeline: pipeline)
        let health = ProbeFlag()
        let service = RefreshService(
            configuration: configuration, configPath: configPath, environment: environment, refresh: refresh,
            sources: sources, health: health, levelBox: levelBox)
        var probe: ProbeServer<C>?
        if !once, let (host, port) = configuration.server.hostAndPort {
            probe = ProbeServer(
                host: host, port: port, board: refresh.board, health: health,
                registry: MetricsRegistry(component: "sidecar", collectors: [metrics]),
                readyMinValidity: configuration.server.readyMinValidity.duration.seconds, version: version,
                exposeStatus: configuration.server.exposeStatus,
                logger: logger, clock: clock, onListening: onListening)
        }
        return SidecarApp(
            configuration: configuration, service: service, probe: probe, refresh: refresh, sources: sources,
            logger: logger)
    }

    /// Reloads the config file now (the executable calls it on SIGHUP).
    package func reload(reason: String) {
        service.requestReload(reason: reason)
    }

    /// Runs until graceful shutdown: the probe server first, so that it stops last and probes
    /// answer until the end.
    package func run() async throws {
        let tracking: [any Service] = refresh.readTracker.map { [ReadTrackerService(tracker: $0)] } ?? []
        let services: [any Service] = (probe.map { [$0] } ?? []) + tracking + [service]
        var group = ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger)
        group.useProjectLogKeys()
        group.maximumGracefulShutdownDuration = .seconds(25)
        try await ServiceGroup(configuration: group).run()
    }

    /// Writes every account's token once (adopting valid files) and returns the accounts that
    /// failed, with what to do about it.
    package func runOnce() async -> [(account: String, advice: FailureAdvice, msCV: String?)] {
        await withTaskGroup(of: (String, FailureAdvice, String?)?.self) { group in
            // At most `window` accounts have a task at a time, each waiting for one of the
            // limiter's permits or holding one: enough to keep every permit busy while some
            // accounts back off between tries, without a task and a refresher for each of
            // 1,000 accounts at once (7 KB of task frames each).
            let window = max(64, 4 * configuration.refresh.maxConcurrent)
            var failures: [(account: String, advice: FailureAdvice, msCV: String?)] = []
            for (index, account) in configuration.accounts.enumerated() {
                if index >= window, let finished = await group.next(), let failure = finished {
                    failures.append(failure)
                }
                group.addTask {
                    let name = account.name.value
                    do {
                        let loop = AccountRefresher(
                            account: account, policy: configuration.refresh,
                            source: try sources.tokenSource(for: account), environment: refresh)
                        guard let failure = await loop.runOnce() else { return nil }
                        return (name, FailureAdvice(failure.error, credential: account.credential.type), failure.msCV)
                    } catch {
                        return (
                            name, FailureAdvice(SidecarError.typed(error), credential: account.credential.type), nil
                        )
                    }
                }
            }
            for await failure in group {
                if let failure { failures.append(failure) }
            }
            return failures.sorted { $0.account < $1.account }
        }
    }
}
