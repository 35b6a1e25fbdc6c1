import AzureCore
import DaemonSupport
import Logging
import ServiceLifecycle
import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs one refresh loop per account and applies config reloads: the file changing (including
/// Kubernetes' ConfigMap symlink swap) and the requests the executable passes in (SIGHUP). On
/// graceful shutdown each loop finishes the attempt in flight and stops; files are left as they
/// are.
final class RefreshService<C: WallClock>: Service, Sendable {
    private enum Event: Sendable {
        case reload(String)
        case stop
    }

    let configPath: String?
    let environment: [String: String]
    let refresh: RefreshEnvironment<C>
    let sources: any TokenSourceFactory
    let health: ProbeFlag
    let levelBox: LogLevelBox
    let reloadPollInterval: Duration
    /// The configuration at start; the loop keeps the one in use.
    private let initial: SidecarConfiguration
    private let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation

    init(
        configuration: SidecarConfiguration, configPath: String?, environment: [String: String],
        refresh: RefreshEnvironment<C>, sources: any TokenSourceFactory, health: ProbeFlag,
        levelBox: LogLevelBox, reloadPollInterval: Duration = .seconds(2)
    ) {
        self.initial = configuration
        self.configPath = configPath
        self.environment = environment
        self.refresh = refresh
        self.sources = sources
        self.health = health
        self.levelBox = levelBox
        self.reloadPollInterval = reloadPollInterval
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    var logger: Logger { refresh.logger }

    /// Reloads the config file now (a request made before ``run()`` is kept until it starts).
    func requestReload(reason: String) {
        continuation.yield(.reload(reason))
    }

    /// The loops of the configuration in use, by account name.
    private final class Loops: @unchecked Sendable {
        // Touched only by `run()`'s own task.
        var running: [String: AccountRefresher<C>] = [:]
        var configuration: SidecarConfiguration
        init(_ configuration: SidecarConfiguration) { self.configuration = configuration }
    }

    func run() async throws {
        let loops = Loops(initial)
        await withGracefulShutdownHandler {
            // Discarding: a loop that ends leaves nothing behind, however many reloads come.
            await withDiscardingTaskGroup { group in
                if let configPath {
                    let watcher = ConfigWatcher(
                        path: configPath, pollInterval: reloadPollInterval, clock: refresh.clock)
                    group.addTask { await watcher.run { self.requestReload(reason: "config file changed") } }
                }
                refresh.board.secretRoutes = initial.secretRoutes
                start(initial.accounts.map(\.name.value), of: initial, into: loops, group: &group)
                health.set(true)
                logger.info("refreshing \(loops.running.count) account(s)")
                for await event in events {
                    guard case .reload(let reason) = event else { break }
                    await reload(reason: reason, loops: loops, group: &group)
                }
                health.set(false)
                await stop(Array(loops.running.keys), of: loops)
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.continuation.yield(.stop)
        }
        logger.info("stopped; token files are left in place")
    }

    /// Starts the loops of `names`.
    private func start(
        _ names: [String], of configuration: SidecarConfiguration, into loops: Loops, group: inout DiscardingTaskGroup
    ) {
        for account in configuration.accounts where names.contains(account.name.value) {
            guard let loop = makeLoop(account, configuration) else { continue }
            loops.running[account.name.value] = loop
            group.addTask { await loop.run() }
        }
    }

    /// Stops the loops of `names` and waits for each to finish its attempt in flight.
    private func stop(_ names: [String], of loops: Loops) async {
        let stopping = names.compactMap { loops.running.removeValue(forKey: $0) }
        for loop in stopping { loop.stop() }
        for loop in stopping { await loop.finished.wait() }
    }

    /// Applies the config file as it is now, or keeps the one in use (logged, counted).
    private func reload(reason: String, loops: Loops, group: inout DiscardingTaskGroup) async {
        guard let updated = load(reason: reason) else { return }
        let plan = ReloadPlan.diff(
            from: loops.configuration, to: updated, running: Set(loops.running.keys),
            authorityHostVariable: environment["AZURE_AUTHORITY_HOST"])
        guard plan.destinationChanges.isEmpty else {
            refresh.metrics.reload(success: false)
            logger.error(
                "the new configuration changes where secrets go; keeping the one in use (restart the sidecar to apply it)",
                metadata: [
                    LogKeys.reason: "\(reason)",
                    LogKeys.destinationChanges: "\(plan.destinationChanges.joined(separator: ", "))",
                ])
            return
        }
        refresh.metrics.reload(success: true)
        loops.configuration = updated
        refresh.board.secretRoutes = updated.secretRoutes
        await stop(plan.stop, of: loops)
        for name in plan.removed {
            refresh.board.remove(name)
            refresh.metrics.remove(name)
        }
        sources.retain(updated.accounts)
        refresh.readTracker?.track(updated.accounts)
        start(plan.start, of: updated, into: loops, group: &group)
        if !plan.restartOnly.isEmpty {
            logger.warning("\(plan.restartOnly.joined(separator: " and ")) take effect at the next restart")
        }
        levelBox.value = Logger.Level(rawValue: updated.log.level.rawValue) ?? .info
        logger.info(
            "configuration reloaded",
            metadata: [
                LogKeys.reason: "\(reason)", LogKeys.accountsAdded: .integer(plan.added),
                LogKeys.accountsRemoved: .integer(plan.removed.count),
                LogKeys.accountsChanged: .integer(plan.changed),
                LogKeys.accountsUnchanged: .integer(plan.unchanged),
            ])
    }

    /// The new configuration, or `nil` (logged) when it cannot be used.
    private func load(reason: String) -> SidecarConfiguration? {
        guard let configPath else { return nil }
        do {
            // The same flags as at start: a reload cannot loosen the operator's policy.
            return try ConfigLoader.load(
                path: configPath, environment: environment, flags: initial.operatorPolicy.flags)
        } catch {
            refresh.metrics.reload(success: false)
            logger.error(
                "the new configuration is invalid; keeping the one in use",
                metadata: [LogKeys.reason: "\(reason)", LogKeys.errorMessage: "\(error)"])
            return nil
        }
    }

    private func makeLoop(
        _ account: AccountConfiguration, _ configuration: SidecarConfiguration
    ) -> AccountRefresher<C>? {
        do {
            return AccountRefresher(
                account: account, policy: configuration.refresh, source: try sources.tokenSource(for: account),
                environment: refresh)
        } catch {
            logger.error(
                "cannot set up the account",
                metadata: [LogKeys.account: "\(account.name)", LogKeys.errorMessage: "\(error)"])
            return nil
        }
    }
}
