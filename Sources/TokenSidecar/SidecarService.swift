import AzureCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Runs one refresh loop per account and applies config reloads (SIGHUP, or the file changing,
/// including Kubernetes' ConfigMap symlink swap). On graceful shutdown each loop finishes the
/// attempt in flight and stops; files are left as they are.
final class SidecarService: Service, Sendable {
    enum Event: Sendable {
        case reload(String)
        case stop
    }

    let configPath: String?
    let environment: [String: String]
    let runtime: SidecarRuntime
    let factory: CredentialFactory
    let health: ProbeFlag
    let levelBox: LogLevelBox
    let reloadPollInterval: Duration
    private let configuration: Mutex<SidecarConfiguration>

    init(
        configuration: SidecarConfiguration, configPath: String?, environment: [String: String], runtime: SidecarRuntime,
        factory: CredentialFactory, health: ProbeFlag, levelBox: LogLevelBox, reloadPollInterval: Duration = .seconds(2)
    ) {
        self.configuration = Mutex(configuration)
        self.configPath = configPath
        self.environment = environment
        self.runtime = runtime
        self.factory = factory
        self.health = health
        self.levelBox = levelBox
        self.reloadPollInterval = reloadPollInterval
    }

    var logger: Logger { runtime.logger }

    func run() async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if let configPath {
                    group.addTask { await self.watch(configPath, continuation) }
                }
                group.addTask {
                    let signals = await UnixSignalsSequence(trapping: .sighup)
                    for await _ in signals { continuation.yield(.reload("SIGHUP")) }
                }
                var refreshers: [String: AccountRefresher] = [:]
                var current = configuration.withLock { $0 }
                for account in current.accounts {
                    if let refresher = makeRefresher(account, current) {
                        refreshers[account.name.value] = refresher
                        group.addTask { await refresher.run() }
                    }
                }
                health.set(true)
                logger.info("refreshing \(refreshers.count) account(s)")
                for await event in events {
                    guard case .reload(let reason) = event else { break }
                    guard let updated = reload(reason: reason) else { continue }
                    let old = current
                    current = updated
                    let restartAll = old.refresh != updated.refresh || old.tls != updated.tls
                    let oldAccounts = Dictionary(uniqueKeysWithValues: old.accounts.map { ($0.name.value, $0) })
                    let newAccounts = Dictionary(uniqueKeysWithValues: updated.accounts.map { ($0.name.value, $0) })
                    var added = 0
                    var removed = 0
                    var changed = 0
                    for (name, refresher) in refreshers where newAccounts[name] == nil || newAccounts[name] != oldAccounts[name] || restartAll {
                        refresher.stop()
                        await refresher.finished.wait()
                        refreshers[name] = nil
                        if newAccounts[name] == nil {
                            runtime.board.remove(name)
                            runtime.metrics.remove(name)
                            removed += 1
                        }
                    }
                    factory.retain(updated.accounts)
                    for account in updated.accounts where refreshers[account.name.value] == nil {
                        if oldAccounts[account.name.value] == nil { added += 1 } else { changed += 1 }
                        if let refresher = makeRefresher(account, updated) {
                            refreshers[account.name.value] = refresher
                            group.addTask { await refresher.run() }
                        }
                    }
                    if old.server != updated.server || old.refresh.maxConcurrent != updated.refresh.maxConcurrent {
                        logger.warning("server settings and refresh.maxConcurrent take effect at the next restart")
                    }
                    levelBox.value = Logger.Level(rawValue: updated.log.level.rawValue) ?? .info
                    logger.info(
                        "configuration reloaded",
                        metadata: [
                            SidecarLogKeys.reason: "\(reason)", "added": "\(added)", "removed": "\(removed)",
                            "changed": "\(changed)", "unchanged": "\(refreshers.count - added - changed)",
                        ])
                }
                health.set(false)
                for refresher in refreshers.values { refresher.stop() }
                for refresher in refreshers.values { await refresher.finished.wait() }
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
            let updated = try ConfigLoader.load(path: configPath, environment: environment)
            configuration.withLock { $0 = updated }
            runtime.metrics.reload(success: true)
            return updated
        } catch {
            runtime.metrics.reload(success: false)
            logger.error(
                "the new configuration is invalid; keeping the one in use",
                metadata: [SidecarLogKeys.reason: "\(reason)", SidecarLogKeys.error: "\(error)"])
            return nil
        }
    }

    private func makeRefresher(_ account: AccountConfiguration, _ configuration: SidecarConfiguration) -> AccountRefresher? {
        do {
            let refresher = try AccountRefresher(
                account: account, policy: RefreshPolicy(configuration.refresh), factory: factory, runtime: runtime)
            refresher.prepare()
            return refresher
        } catch {
            logger.error(
                "cannot set up the account", metadata: [SidecarLogKeys.account: "\(account.name)", SidecarLogKeys.error: "\(error)"])
            return nil
        }
    }

    /// Watches the config file's identity (following symlinks), yielding a reload when it changes.
    /// With inotify (Linux) it wakes only when something changes in the file's folder (where
    /// Kubernetes swaps a ConfigMap's `..data` link) or in its target's, plus a check a minute in
    /// case an event was missed; without, it polls every `reloadPollInterval`.
    private func watch(_ path: String, _ continuation: AsyncStream<Event>.Continuation) async {
        var last = FileIdentity(path)
        let (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let resolved = URL(filePath: path).resolvingSymlinksInPath().path
        let folders = Set([path, resolved].map { AtomicFileSink.split($0).directory })
        let notifier = FolderNotifier(folders: Array(folders)) { signal.yield() }
        defer { notifier?.cancel() }
        let interval = notifier == nil ? reloadPollInterval : max(reloadPollInterval, .seconds(60))
        while !Task.isCancelled {
            if notifier != nil {
                // Wake on a change or after `interval`, whichever comes first.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await _ in changes { return }
                        // The stream only ends with the notifier; never spin on it.
                        try? await Task.sleep(for: interval)
                    }
                    group.addTask { try? await Task.sleep(for: interval) }
                    await group.next()
                    group.cancelAll()
                }
            } else {
                try? await Task.sleep(for: interval)
            }
            let now = FileIdentity(path)
            if now != last {
                last = now
                if now != nil { continuation.yield(.reload("config file changed")) }
            }
        }
    }
}

/// Device, inode, size and modification time of a file, following symlinks.
struct FileIdentity: Equatable {
    let values: [Int64]

    init?(_ path: String) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: URL(filePath: path).resolvingSymlinksInPath().path)
        else { return nil }
        values = [
            (attributes[.systemNumber] as? Int).map(Int64.init) ?? 0,
            (attributes[.systemFileNumber] as? Int).map(Int64.init) ?? 0,
            (attributes[.size] as? Int).map(Int64.init) ?? 0,
            Int64(((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) * 1_000_000),
        ]
    }
}
