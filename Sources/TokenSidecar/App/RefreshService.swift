import AzureCore
import DaemonSupport
import Logging
import ServiceLifecycle
import SidecarConfig
import Synchronization
import UnixSignals

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs one refresh loop per account and applies config reloads (SIGHUP, or the file changing,
/// including Kubernetes' ConfigMap symlink swap). On graceful shutdown each loop finishes the
/// attempt in flight and stops; files are left as they are.
final class RefreshService: Service, Sendable {
    private enum Event: Sendable {
        case reload(String)
        case stop
    }

    let configPath: String?
    let environment: [String: String]
    let refresh: RefreshEnvironment<SystemWallClock>
    let factory: CredentialFactory
    let health: ProbeFlag
    let levelBox: LogLevelBox
    let reloadPollInterval: Duration
    /// The configuration at start; the loop keeps the one in use.
    private let initial: SidecarConfiguration

    init(
        configuration: SidecarConfiguration, configPath: String?, environment: [String: String],
        refresh: RefreshEnvironment<SystemWallClock>, factory: CredentialFactory,
        health: ProbeFlag,
        levelBox: LogLevelBox, reloadPollInterval: Duration = .seconds(2)
    ) {
        self.initial = configuration
        self.configPath = configPath
        self.environment = environment
        self.refresh = refresh
        self.factory = factory
        self.health = health
        self.levelBox = levelBox
        self.reloadPollInterval = reloadPollInterval
    }

    var logger: Logger { refresh.logger }

    func run() async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if let configPath {
                    let watcher = ConfigWatcher(path: configPath, pollInterval: reloadPollInterval)
                    group.addTask { await watcher.run { continuation.yield(.reload("config file changed")) } }
                }
                group.addTask {
                    let signals = await UnixSignalsSequence(trapping: .sighup)
                    for await _ in signals { continuation.yield(.reload("SIGHUP")) }
                }
                var loops: [String: AccountRefresher<SystemWallClock>] = [:]
                var current = initial
                func start(_ names: [String], of configuration: SidecarConfiguration) {
                    for account in configuration.accounts where names.contains(account.name.value) {
                        guard let loop = makeLoop(account, configuration) else { continue }
                        loops[account.name.value] = loop
                        group.addTask { await loop.run() }
                    }
                }
                refresh.board.secretRoutes = current.secretRoutes
                start(current.accounts.map(\.name.value), of: current)
                health.set(true)
                logger.info("refreshing \(loops.count) account(s)")
                for await event in events {
                    guard case .reload(let reason) = event else { break }
                    guard let updated = reload(reason: reason) else { continue }
                    let plan = ReloadPlan.diff(
                        from: current, to: updated, running: Set(loops.keys),
                        authorityHostVariable: environment["AZURE_AUTHORITY_HOST"])
                    guard plan.destinationChanges.isEmpty else {
                        refresh.metrics.reload(success: false)
                        logger.error(
                            "the new configuration changes where secrets go; keeping the one in use (restart the sidecar to apply it)",
                            metadata: [
                                LogKeys.reason: "\(reason)",
                                LogKeys.destinationChanges: "\(plan.destinationChanges.joined(separator: ", "))",
                            ])
                        continue
                    }
                    refresh.metrics.reload(success: true)
                    current = updated
                    refresh.board.secretRoutes = current.secretRoutes
                    for name in plan.stop {
                        guard let loop = loops.removeValue(forKey: name) else { continue }
                        loop.stop()
                        await loop.finished.wait()
                    }
                    for name in plan.removed {
                        refresh.board.remove(name)
                        refresh.metrics.remove(name)
                    }
                    factory.retain(updated.accounts)
                    refresh.readTracker?.track(updated.accounts)
                    start(plan.start, of: updated)
                    if !plan.restartOnly.isEmpty {
                        logger.warning(
                            "\(plan.restartOnly.joined(separator: " and ")) take effect at the next restart")
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
                health.set(false)
                for loop in loops.values { loop.stop() }
                for loop in loops.values { await loop.finished.wait() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            continuation.yield(.stop)
        }
        logger.info("stopped; token files are left in place")
    }

    /// The new configuration, or `nil` (logged) when it cannot be used.
    private func reload(reason: String) -> SidecarConfiguration? {
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
    )
        -> AccountRefresher<SystemWallClock>?
    {
        do {
            return AccountRefresher(
                account: account, policy: configuration.refresh,
                source: try factory.tokenSource(for: account, onKeyUse: refresh.keyUseReporter(account.name.value)),
                environment: refresh)
        } catch {
            logger.error(
                "cannot set up the account",
                metadata: [LogKeys.account: "\(account.name)", LogKeys.errorMessage: "\(error)"])
            return nil
        }
    }
}
