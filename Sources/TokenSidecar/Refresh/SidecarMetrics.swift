import AzureCore
import CoreMetrics
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// The sidecar's metrics, built from an injected factory. Names are `mr_token_*`; labels are the
/// account name (bounded by the config), the result (a fixed set) and the state (a fixed set).
final class SidecarMetrics: Sendable {
    static let results = [
        "success", "adopted", "authentication_failed", "throttled", "service_error", "bad_response", "transport",
        "invalid_argument", "bad_token", "write_failed", "secret_file", "credential_unavailable", "other",
    ]

    /// One account's series. The per-result counters and per-state gauges are made when first
    /// needed: swift-prometheus copies a metric family on every series added to it, so making all
    /// 18 of them for each of 1,000 accounts up front cost seconds at start.
    private struct AccountMetrics {
        let expiry: Gauge
        let lastSuccess: Gauge
        let duration: CoreMetrics.Timer
        var attempts: [String: Counter] = [:]
        var states: [AccountStatus.State: Gauge] = [:]
    }

    private let factory: any MetricsFactory
    private let accounts = Mutex<[String: AccountMetrics]>([:])
    private let reloads: [String: Counter]
    private let notifications: [String: Counter]

    init(factory: any MetricsFactory) {
        self.factory = factory
        reloads = Dictionary(uniqueKeysWithValues: ["success", "failure"].map {
            ($0, Counter(label: "mr_token_config_reloads_total", dimensions: [("result", $0)], factory: factory))
        })
        notifications = Dictionary(uniqueKeysWithValues: ["success", "failure"].map {
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
                    lastSuccess: Gauge(label: "mr_token_last_success_timestamp_seconds", dimensions: dimensions, factory: factory),
                    duration: CoreMetrics.Timer(label: "mr_token_refresh_duration_seconds", dimensions: dimensions, factory: factory)
                )
            defer { accounts[account] = metrics }
            return body(&metrics)
        }
    }

    func attempt(_ account: String, result: String, duration: Duration?) {
        let label = Self.results.contains(result) ? result : "other"
        let (counter, timer) = withMetrics(account) { metrics -> (Counter, CoreMetrics.Timer) in
            if let existing = metrics.attempts[label] { return (existing, metrics.duration) }
            let counter = Counter(
                label: "mr_token_refresh_attempts_total", dimensions: [("account", account), ("result", label)], factory: factory)
            metrics.attempts[label] = counter
            return (counter, metrics.duration)
        }
        counter.increment()
        if let duration { timer.recordNanoseconds(duration.nanoseconds) }
    }

    func token(_ account: String, expiresOn: Date, refreshedAt: Date?) {
        let (expiry, lastSuccess) = withMetrics(account) { ($0.expiry, $0.lastSuccess) }
        expiry.record(expiresOn.timeIntervalSince1970)
        if let refreshedAt { lastSuccess.record(refreshedAt.timeIntervalSince1970) }
    }

    /// Sets `mr_token_state{state}` to 1 for the current state and 0 for the states the account
    /// was in before (a state never entered has no series).
    func state(_ account: String, _ state: AccountStatus.State) {
        let gauges = withMetrics(account) { metrics -> [AccountStatus.State: Gauge] in
            if metrics.states[state] == nil {
                metrics.states[state] = Gauge(
                    label: "mr_token_state", dimensions: [("account", account), ("state", state.rawValue)], factory: factory)
            }
            return metrics.states
        }
        for (candidate, gauge) in gauges { gauge.record(candidate == state ? 1 : 0) }
    }

    func notification(success: Bool) { notifications[success ? "success" : "failure"]?.increment() }

    func reload(success: Bool) { reloads[success ? "success" : "failure"]?.increment() }

    /// Drops an account's series when it is removed from the config.
    func remove(_ account: String) {
        guard let metrics = accounts.withLock({ $0.removeValue(forKey: account) }) else { return }
        metrics.expiry.destroy()
        metrics.lastSuccess.destroy()
        metrics.duration.destroy()
        metrics.attempts.values.forEach { $0.destroy() }
        metrics.states.values.forEach { $0.destroy() }
    }
}
