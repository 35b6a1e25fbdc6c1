import AzureCore
import AzureIdentity
package import DaemonSupport
import MixedRealityAuthentication
import SidecarConfig
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The sidecar's metrics, rendered by the daemon's ``MetricsRegistry`` at each scrape, as a
/// ``MetricsCollector``: the counters and durations from the state machines' attempt records,
/// every other per-account series (expiry, last success, state, key in use, writes and reads)
/// from the board's latest snapshots at the scrape's time, as `/status` shows them.
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

    /// One account's counted series: attempts by result and their durations, and the states
    /// its scrapes have shown (a state never shown has no series).
    private struct AccountSeries {
        /// Cumulative counts per bucket of `durationBuckets`, the sum in seconds and the count.
        var durationBuckets: [Int]
        var durationSum = 0.0
        var durationCount = 0
        /// Per result, in the order first seen.
        var attempts: [(result: String, count: Int)] = []
        /// The states shown, in the order first shown.
        var entered: [AccountState] = []

        init(buckets: Int) { durationBuckets = Array(repeating: 0, count: buckets) }
    }

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
    /// The snapshots the per-account gauges are rendered from.
    private let board: StatusBoard
    /// The scrape's time.
    private let clock: WallTime
    /// Whether the application's reads are watched (the read gauges mean something).
    private let tracksReads: Bool

    /// - Parameters:
    ///   - board: The accounts' snapshots.
    ///   - clock: What a scrape's time is read from (an account's state depends on it).
    ///   - tracksReads: Whether a read tracker reports the application's reads.
    package init(board: StatusBoard, clock: WallTime, tracksReads: Bool = false) {
        self.board = board
        self.clock = clock
        self.tracksReads = tracksReads
    }

    /// Runs `body` on the account's series, made on first use.
    private func withSeries<T>(_ account: String, _ body: (inout AccountSeries) -> T) -> T {
        accounts.withLock { accounts in
            body(&accounts[account, default: AccountSeries(buckets: Self.durationBuckets.count)])
        }
    }

    /// Counts an attempt (`mr_token_refresh_attempts_total{result}`) and its duration.
    package func record(_ account: String, _ record: AttemptRecord) {
        let label = record.result
        assert(Self.results.contains(label), "\(label) is not one of SidecarMetrics.results")
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
    /// One account as a scrape shows it: its snapshot (if it has published one), its state at the
    /// scrape's time and its counted series.
    private struct Row {
        var name: String
        var snapshot: AccountSnapshot?
        var state: AccountState?
        var series: AccountSeries
    }

    /// Every `mr_token_*` family, accounts in name order: the snapshots and a copy of the counted
    /// series are taken under their locks, the text is written outside them.
    package func collect(into text: inout PrometheusText) {
        let now = clock.now()
        let snapshots = Dictionary(board.all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let rows = accounts.withLock { accounts -> [Row] in
            var rows: [Row] = []
            for name in Set(accounts.keys).union(snapshots.keys).sorted() {
                let snapshot = snapshots[name]
                let state = snapshot?.state(at: now)
                var series = accounts[name, default: AccountSeries(buckets: Self.durationBuckets.count)]
                if let state, !series.entered.contains(state) { series.entered.append(state) }
                accounts[name] = series
                rows.append(Row(name: name, snapshot: snapshot, state: state, series: series))
            }
            return rows
        }
        let help = { (name: String) in Self.descriptions[name]?.help ?? "" }
        func family(_ name: String, _ type: String, _ samples: (Row) -> [([(String, String)], Double)]) {
            let all = rows.flatMap(samples)
            guard !all.isEmpty else { return }
            text.family(name, type: type, help: help(name))
            for (labels, value) in all {
                if type == "counter" {
                    text.sample(name, labels: labels, count: Int(value))
                } else {
                    text.sample(name, labels: labels, value)
                }
            }
        }
        func gauge(_ name: String, _ value: (AccountSnapshot) -> Double?) {
            family(name, "gauge") { row in
                row.snapshot.flatMap(value).map { [([("account", row.name)], $0)] } ?? []
            }
        }
        gauge("mr_token_expiry_timestamp_seconds") { $0.expiresOn?.timeIntervalSince1970 ?? 0 }
        gauge("mr_token_last_success_timestamp_seconds") { $0.lastRefresh?.timeIntervalSince1970 ?? 0 }
        family("mr_token_refresh_attempts_total", "counter") { row in
            row.series.attempts.map { ([("account", row.name), ("result", $0.result)], Double($0.count)) }
        }
        family("mr_token_state", "gauge") { row in
            row.series.entered.map { ([("account", row.name), ("state", $0.rawValue)], $0 == row.state ? 1 : 0) }
        }
        gauge("mr_token_account_key_index") { $0.keyFile.map { Double($0.index) } }
        gauge("mr_token_written_timestamp_seconds") { $0.lastWrite?.timeIntervalSince1970 }
        if tracksReads {
            gauge("mr_token_last_read_timestamp_seconds") { $0.lastRead?.timeIntervalSince1970 }
            gauge("mr_token_read_since_write") { snapshot in snapshot.readSinceWrite.map { $0 ? 1 : 0 } }
        }
        let duration = "mr_token_refresh_duration_seconds"
        if !rows.isEmpty {
            text.family(duration, type: "histogram", help: help(duration))
            for row in rows {
                text.histogram(
                    duration, labels: [("account", row.name)], bounds: Self.durationBucketLabels,
                    cumulativeCounts: row.series.durationBuckets, sum: row.series.durationSum,
                    count: row.series.durationCount)
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
