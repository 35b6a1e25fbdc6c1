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

    private struct AccountMetrics {
        let expiry: Gauge
        let lastSuccess: Gauge
        let duration: CoreMetrics.Timer
        let attempts: [String: Counter]
        let states: [AccountStatus.State: Gauge]
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

    private func metrics(_ account: String) -> AccountMetrics {
        accounts.withLock { accounts in
            if let existing = accounts[account] { return existing }
            let dimensions = [("account", account)]
            let created = AccountMetrics(
                expiry: Gauge(label: "mr_token_expiry_timestamp_seconds", dimensions: dimensions, factory: factory),
                lastSuccess: Gauge(label: "mr_token_last_success_timestamp_seconds", dimensions: dimensions, factory: factory),
                duration: CoreMetrics.Timer(label: "mr_token_refresh_duration_seconds", dimensions: dimensions, factory: factory),
                attempts: Dictionary(uniqueKeysWithValues: Self.results.map {
                    ($0, Counter(label: "mr_token_refresh_attempts_total", dimensions: dimensions + [("result", $0)], factory: factory))
                }),
                states: Dictionary(uniqueKeysWithValues: AccountStatus.State.allCases.map {
                    ($0, Gauge(label: "mr_token_state", dimensions: dimensions + [("state", $0.rawValue)], factory: factory))
                })
            )
            accounts[account] = created
            return created
        }
    }

    func attempt(_ account: String, result: String, duration: Duration?) {
        let metrics = metrics(account)
        metrics.attempts[Self.results.contains(result) ? result : "other"]?.increment()
        if let duration { metrics.duration.recordNanoseconds(duration.nanoseconds) }
    }

    func token(_ account: String, expiresOn: Date, refreshedAt: Date?) {
        let metrics = metrics(account)
        metrics.expiry.record(expiresOn.timeIntervalSince1970)
        if let refreshedAt { metrics.lastSuccess.record(refreshedAt.timeIntervalSince1970) }
    }

    func state(_ account: String, _ state: AccountStatus.State) {
        for (candidate, gauge) in metrics(account).states { gauge.record(candidate == state ? 1 : 0) }
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
