import AzureCore
import AzureIdentity
package import DaemonSupport
import MixedRealityAuthentication
import SidecarConfig
import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// The sidecar's metrics, fed by the state machines (their attempt records: counters, durations;
/// their snapshots: expiry, last success, state) and rendered by the daemon's ``MetricsRegistry``
/// at each scrape, as a ``MetricsCollector``.
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

    /// One account's series, plain values rendered at each scrape. A family's series of an
    /// account appear once the account has used them (a state never entered, a result never
    /// seen, a key index never reported have no series), as they did with swift-prometheus.
    private struct AccountSeries {
        var expiry = 0.0
        var lastSuccess = 0.0
        /// Cumulative counts per bucket of `durationBuckets`, the sum in seconds and the count.
        var durationBuckets: [Int]
        var durationSum = 0.0
        var durationCount = 0
        /// Per result, in the order first seen.
        var attempts: [(result: String, count: Int)] = []
        /// The states entered, in the order first entered, and the current one (1; the others 0).
        var entered: [AccountState] = []
        var current: AccountState?
        /// Made when the account uses them (key rotation, read tracking), by metric name.
        var others: [String: Double] = [:]

        init(buckets: Int) { durationBuckets = Array(repeating: 0, count: buckets) }
    }

    /// The optional per-account gauges, in the order they are rendered.
    private static let otherNames = [
        "mr_token_account_key_index", "mr_token_written_timestamp_seconds", "mr_token_last_read_timestamp_seconds",
        "mr_token_read_since_write",
    ]
    /// The upper bounds of `mr_token_refresh_duration_seconds`, in seconds.
    private static let durationBuckets: [Double] =
        (descriptions["mr_token_refresh_duration_seconds"]?.buckets ?? []).map(\.seconds)
    private static let durationBucketLabels: [String] = durationBuckets.map { "\($0)" }

    /// Every account's series. One dictionary entry per account, rendered at a scrape: adding the
    /// 1,000th account costs what adding the first did (swift-prometheus's registry copied a
    /// metric family for each series added, which made 1,000 accounts quadratic).
    private let accounts = Mutex<[String: AccountSeries]>([:])
    private let reloads = Mutex<[String: Int]>(["success": 0, "failure": 0])
    private let notifications = Mutex<[String: Int]>(["success": 0, "failure": 0])

    package init() {}

    /// Runs `body` on the account's series, made on first use.
    private func withSeries<T>(_ account: String, _ body: (inout AccountSeries) -> T) -> T {
        accounts.withLock { accounts in
            body(&accounts[account, default: AccountSeries(buckets: Self.durationBuckets.count)])
        }
    }

    /// Counts an attempt (`mr_token_refresh_attempts_total{result}`) and its duration.
    package func record<C: WallClock>(_ account: String, _ record: AccountStateMachine<C>.AttemptRecord) {
        // Every result is in `results` (the labels are derived from the error types).
        let label = record.result
        let seconds = record.duration.map { max(0, $0.seconds) }
        withSeries(account) { series in
            if let index = series.attempts.firstIndex(where: { $0.result == label }) {
                series.attempts[index].count += 1
            } else {
                series.attempts.append((label, 1))
            }
            guard let seconds else { return }
            for (index, bound) in Self.durationBuckets.enumerated() where seconds <= bound {
                series.durationBuckets[index] += 1
            }
            series.durationSum += seconds
            series.durationCount += 1
        }
    }

    /// Shows a snapshot: the expiry, the last success, and `mr_token_state{state}` 1 for the
    /// state at `now` and 0 for the states the account was in before (a state never entered has
    /// no series).
    package func publish(_ snapshot: AccountSnapshot, now: Date) {
        let state = snapshot.state(at: now)
        withSeries(snapshot.name) { series in
            if let expiresOn = snapshot.expiresOn { series.expiry = expiresOn.timeIntervalSince1970 }
            if let lastRefresh = snapshot.lastRefresh { series.lastSuccess = lastRefresh.timeIntervalSince1970 }
            if !series.entered.contains(state) { series.entered.append(state) }
            series.current = state
        }
    }

    /// Sets one of the account's optional gauges, made on first use.
    private func set(_ account: String, _ label: String, _ value: Double) {
        withSeries(account) { $0.others[label] = value }
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
    package func notification(success: Bool) {
        notifications.withLock { $0[success ? "success" : "failure", default: 0] += 1 }
    }

    /// Counts a config reload.
    package func reload(success: Bool) { reloads.withLock { $0[success ? "success" : "failure", default: 0] += 1 } }

    /// Drops an account's series when it is removed from the config.
    package func remove(_ account: String) { _ = accounts.withLock { $0.removeValue(forKey: account) } }
}

extension SidecarMetrics: MetricsCollector {
    /// Every `mr_token_*` family, accounts in name order: a copy of the values is taken under the
    /// lock, the text is written outside it.
    package func collect(into text: inout PrometheusText) {
        let accounts = self.accounts.withLock { $0 }.sorted { $0.key < $1.key }
        let help = { (name: String) in Self.descriptions[name]?.help ?? "" }
        func family(_ name: String, _ type: String, _ series: (String, AccountSeries) -> [([(String, String)], Double)])
        {
            let rows = accounts.flatMap { series($0.key, $0.value) }
            guard !rows.isEmpty else { return }
            text.family(name, type: type, help: help(name))
            for (labels, value) in rows {
                if type == "counter" {
                    text.sample(name, labels: labels, count: Int(value))
                } else {
                    text.sample(name, labels: labels, value)
                }
            }
        }
        family("mr_token_expiry_timestamp_seconds", "gauge") { name, series in [([("account", name)], series.expiry)] }
        family("mr_token_last_success_timestamp_seconds", "gauge") { name, series in
            [([("account", name)], series.lastSuccess)]
        }
        family("mr_token_refresh_attempts_total", "counter") { name, series in
            series.attempts.map { ([("account", name), ("result", $0.result)], Double($0.count)) }
        }
        family("mr_token_state", "gauge") { name, series in
            series.entered.map { ([("account", name), ("state", $0.rawValue)], $0 == series.current ? 1 : 0) }
        }
        for other in Self.otherNames {
            family(other, "gauge") { name, series in
                series.others[other].map { [([("account", name)], $0)] } ?? []
            }
        }
        let duration = "mr_token_refresh_duration_seconds"
        if !accounts.isEmpty {
            text.family(duration, type: "histogram", help: help(duration))
            for (name, series) in accounts {
                text.histogram(
                    duration, labels: [("account", name)], bounds: Self.durationBucketLabels,
                    cumulativeCounts: series.durationBuckets, sum: series.durationSum, count: series.durationCount)
            }
        }
        let totals = [
            ("mr_token_config_reloads_total", reloads.withLock { $0 }),
            ("mr_token_notifications_total", notifications.withLock { $0 }),
        ]
        for (name, counts) in totals {
            text.family(name, type: "counter", help: help(name))
            for result in ["success", "failure"] {
                text.sample(name, labels: [("result", result)], count: counts[result] ?? 0)
            }
        }
    }
}
