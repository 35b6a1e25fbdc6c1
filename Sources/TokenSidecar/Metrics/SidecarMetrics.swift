import AzureCore
import AzureIdentity
package import CoreMetrics
package import DaemonSupport
import MixedRealityAuthentication
import SidecarConfig
import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// The sidecar's metrics, built from an injected factory and fed by the state machines: their
/// attempt records (counters, durations) and their snapshots (expiry, last success, state).
/// Names are `mr_token_*`; labels are the account name (bounded by the config), the result and
/// the state (fixed sets).
package final class SidecarMetrics: Sendable {
    /// Every metric's `# HELP` text, and the buckets of the refresh duration: past the longest
    /// refresh (three tries of up to 30 s with their backoff).
    package static let descriptions: [String: MetricDescription] = [
        "mr_token_expiry_timestamp_seconds": .init("Expiry of the account's token on disk, in unix seconds."),
        "mr_token_last_success_timestamp_seconds": .init(
            "When the account's last exchange (or adoption of a valid file) succeeded, in unix seconds."),
        "mr_token_refresh_attempts_total": .init(
            "Exchanges and adoptions by result: success, adopted, or the error code of a failure."),
        "mr_token_refresh_duration_seconds": .init(
            "Duration of an exchange, the Entra ID token and the tries included.",
            buckets: [
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
                .seconds(300),
            ]),
        "mr_token_state": .init(
            "1 for the account's state (fresh, refreshing, stale, expired, failing), 0 for the states it left."),
        "mr_token_config_reloads_total": .init("Configuration reloads by result (success, failure)."),
        "mr_token_notifications_total": .init("Notifications to the application by result (success, failure)."),
        "mr_token_account_key_index": .init(
            "Position in keyFiles of the account key the STS accepted last: 0 the first, 1 the second..."),
        "mr_token_written_timestamp_seconds": .init("When the sidecar last wrote a token file of the account."),
        "mr_token_last_read_timestamp_seconds": .init(
            "When another process last opened a token file of the account (inotify on the output folders)."),
        "mr_token_read_since_write": .init("1 when the token written last has been opened by the application since."),
    ]

    /// Every `result` label: `success`, `adopted`, and the codes of every error an attempt can
    /// end with, derived from the error types.
    package static let results: [String] = {
        var labels = ["success", "adopted"]
        let errorTypes: [any AzureError.Type] = [
            MixedRealityAuthenticationError.self, AzureIdentityError.self, AzureCoreError.self, SidecarError.self,
        ]
        for label in errorTypes.flatMap({ $0.metricLabels }) where !labels.contains(label) { labels.append(label) }
        return labels
    }()

    /// One account's series. The per-result counters and per-state gauges are made when first
    /// needed: swift-prometheus copies a metric family on every series added to it, so making all
    /// of them for each of 1,000 accounts up front cost seconds at start.
    private struct AccountMetrics {
        let expiry: Gauge
        let lastSuccess: Gauge
        let duration: CoreMetrics.Timer
        var attempts: [String: Counter] = [:]
        var states: [AccountState: Gauge] = [:]
        /// Made when the account uses them: key rotation, read tracking.
        var others: [String: Gauge] = [:]
    }

    private let factory: any MetricsFactory
    private let accounts = Mutex<[String: AccountMetrics]>([:])
    private let reloads: [String: Counter]
    private let notifications: [String: Counter]

    package init(factory: any MetricsFactory) {
        self.factory = factory
        reloads = Dictionary(
            uniqueKeysWithValues: ["success", "failure"].map {
                ($0, Counter(label: "mr_token_config_reloads_total", dimensions: [("result", $0)], factory: factory))
            })
        notifications = Dictionary(
            uniqueKeysWithValues: ["success", "failure"].map {
                ($0, Counter(label: "mr_token_notifications_total", dimensions: [("result", $0)], factory: factory))
            })
    }

    /// Runs `body` on the account's series, made on first use.
    private func withMetrics<T>(_ account: String, _ body: (inout AccountMetrics) -> T) -> T {
        accounts.withLock { accounts in
            let dimensions = [("account", account)]
            var metrics =
                accounts[account]
                ?? AccountMetrics(
                    expiry: Gauge(label: "mr_token_expiry_timestamp_seconds", dimensions: dimensions, factory: factory),
                    lastSuccess: Gauge(
                        label: "mr_token_last_success_timestamp_seconds", dimensions: dimensions, factory: factory),
                    duration: CoreMetrics.Timer(
                        label: "mr_token_refresh_duration_seconds", dimensions: dimensions, factory: factory)
                )
            defer { accounts[account] = metrics }
            return body(&metrics)
        }
    }

    /// Counts an attempt (`mr_token_refresh_attempts_total{result}`) and its duration.
    package func record<C: WallClock>(_ account: String, _ record: AccountStateMachine<C>.AttemptRecord) {
        // Every result is in `results` (the labels are derived from the error types).
        let label = record.result
        let (counter, timer) = withMetrics(account) { metrics -> (Counter, CoreMetrics.Timer) in
            if let existing = metrics.attempts[label] { return (existing, metrics.duration) }
            let counter = Counter(
                label: "mr_token_refresh_attempts_total", dimensions: [("account", account), ("result", label)],
                factory: factory)
            metrics.attempts[label] = counter
            return (counter, metrics.duration)
        }
        counter.increment()
        if let duration = record.duration { timer.recordNanoseconds(max(0, duration.nanoseconds)) }
    }

    /// Shows a snapshot: the expiry, the last success, and `mr_token_state{state}` 1 for the
    /// state at `now` and 0 for the states the account was in before (a state never entered has
    /// no series).
    package func publish(_ snapshot: AccountSnapshot, now: Date) {
        let state = snapshot.state(at: now)
        let (expiry, lastSuccess, gauges) = withMetrics(snapshot.name) { metrics in
            if metrics.states[state] == nil {
                metrics.states[state] = Gauge(
                    label: "mr_token_state", dimensions: [("account", snapshot.name), ("state", state.rawValue)],
                    factory: factory)
            }
            return (metrics.expiry, metrics.lastSuccess, metrics.states)
        }
        if let expiresOn = snapshot.expiresOn { expiry.record(expiresOn.timeIntervalSince1970) }
        if let lastRefresh = snapshot.lastRefresh { lastSuccess.record(lastRefresh.timeIntervalSince1970) }
        for (candidate, gauge) in gauges { gauge.record(candidate == state ? 1 : 0) }
    }

    /// Sets one of the account's optional gauges, made on first use.
    private func set(_ account: String, _ label: String, _ value: Double) {
        let gauge = withMetrics(account) { metrics -> Gauge in
            if let existing = metrics.others[label] { return existing }
            let gauge = Gauge(label: label, dimensions: [("account", account)], factory: factory)
            metrics.others[label] = gauge
            return gauge
        }
        gauge.record(value)
    }

    /// The account key file the STS accepted (`mr_token_account_key_index`).
    package func keyInUse(_ account: String, index: Int) { set(account, "mr_token_account_key_index", Double(index)) }

    /// The application's reads: when the sidecar last wrote, when another process last opened,
    /// and whether it opened the token written last.
    package func reads(_ account: String, activity: AccountActivity) {
        if let lastWrite = activity.lastWrite {
            set(account, "mr_token_written_timestamp_seconds", lastWrite.timeIntervalSince1970)
        }
        if let lastRead = activity.lastRead {
            set(account, "mr_token_last_read_timestamp_seconds", lastRead.timeIntervalSince1970)
        }
        set(account, "mr_token_read_since_write", activity.readSinceWrite == true ? 1 : 0)
    }

    /// Counts a notification.
    package func notification(success: Bool) { notifications[success ? "success" : "failure"]?.increment() }

    /// Counts a config reload.
    package func reload(success: Bool) { reloads[success ? "success" : "failure"]?.increment() }

    /// Drops an account's series when it is removed from the config.
    package func remove(_ account: String) {
        guard let metrics = accounts.withLock({ $0.removeValue(forKey: account) }) else { return }
        metrics.expiry.destroy()
        metrics.lastSuccess.destroy()
        metrics.duration.destroy()
        metrics.attempts.values.forEach { $0.destroy() }
        metrics.states.values.forEach { $0.destroy() }
        metrics.others.values.forEach { $0.destroy() }
    }
}
