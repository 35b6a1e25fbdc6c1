import DaemonSupport
import Foundation
import Testing
import TokenSidecarTesting

@testable import TokenSidecar

/// The per-account series as the sidecar renders them itself (no registry object per series).
@Suite("SidecarMetrics")
struct SidecarMetricsTests {
    typealias Record = AccountStateMachine<ManualClock>.AttemptRecord

    func record(_ outcome: Record.Outcome, seconds: Double?) -> Record {
        Record(
            outcome: outcome, duration: seconds.map { .nanoseconds(Int64($0 * 1e9)) }, expiresOn: nil,
            nextAttempt: Date(), correlationVector: nil, msCV: nil, consecutiveFailures: 0)
    }

    func snapshot(_ name: String, expiresOn: Date?, failures: Int = 0) -> AccountSnapshot {
        AccountSnapshot(
            name: name, accountId: "id", output: "/out", inFlight: false, expiresOn: expiresOn,
            lastRefresh: expiresOn.map { $0.addingTimeInterval(-86_400) }, consecutiveFailures: failures)
    }

    func render(_ metrics: SidecarMetrics) -> [String] {
        var text = PrometheusText()
        metrics.collect(into: &text)
        return String(decoding: text.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test("attempts, cumulative duration buckets, states entered, optional gauges; a removed account disappears")
    func rendering() {
        let metrics = SidecarMetrics()
        let expiry = Date(timeIntervalSince1970: 2_000_000_000)
        metrics.record("b", record(.refreshed(changed: true), seconds: 0.2))
        metrics.record("b", record(.refreshed(changed: true), seconds: 3))
        metrics.record("b", record(.adopted, seconds: nil))
        metrics.publish(snapshot("b", expiresOn: expiry), now: expiry.addingTimeInterval(-10))
        metrics.publish(snapshot("b", expiresOn: expiry, failures: 1), now: expiry.addingTimeInterval(-5))
        metrics.keyInUse("a", index: 1)
        metrics.reload(success: true)
        metrics.notification(success: false)
        let lines = render(metrics)

        #expect(lines.contains(#"mr_token_refresh_attempts_total{account="b",result="success"} 2"#))
        #expect(lines.contains(#"mr_token_refresh_attempts_total{account="b",result="adopted"} 1"#))
        #expect(lines.contains(#"mr_token_expiry_timestamp_seconds{account="b"} 2000000000.0"#))
        #expect(lines.contains(#"mr_token_state{account="b",state="fresh"} 0.0"#))
        #expect(lines.contains(#"mr_token_state{account="b",state="stale"} 1.0"#))
        #expect(!lines.contains { $0.contains(#"state="expired""#) }, "a state never entered has no series")
        // Cumulative: 0.2 s is under 0.25, 3 s under 5; the adoption has no duration.
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_bucket{account="b",le="0.1"} 0"#))
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_bucket{account="b",le="0.25"} 1"#))
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_bucket{account="b",le="2.5"} 1"#))
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_bucket{account="b",le="5.0"} 2"#))
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_bucket{account="b",le="300.0"} 2"#))
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_bucket{account="b",le="+Inf"} 2"#))
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_sum{account="b"} 3.2"#))
        #expect(lines.contains(#"mr_token_refresh_duration_seconds_count{account="b"} 2"#))
        #expect(lines.contains(#"mr_token_account_key_index{account="a"} 1.0"#))
        #expect(!lines.contains { $0.hasPrefix(#"mr_token_account_key_index{account="b"}"#) })
        #expect(lines.contains(#"mr_token_config_reloads_total{result="success"} 1"#))
        #expect(lines.contains(#"mr_token_notifications_total{result="failure"} 1"#))

        // Each family once, HELP before TYPE before its samples, and every sample in a declared family.
        let types = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(types.count == Set(types).count)
        var declared: Set<Substring> = []
        for (index, line) in lines.enumerated() {
            if line.hasPrefix("# TYPE ") {
                let name = line.split(separator: " ")[2]
                #expect(lines[index - 1].hasPrefix("# HELP \(name) "))
                declared.insert(name)
            } else if !line.hasPrefix("#") {
                let name = line.prefix { $0 != "{" && $0 != " " }
                let family = ["_bucket", "_sum", "_count"].reduce(name) { name, suffix in
                    name.hasSuffix(suffix) && declared.contains(name.dropLast(suffix.count))
                        ? name.dropLast(suffix.count) : name
                }
                #expect(declared.contains(family), "\(line) before its # TYPE")
            }
        }

        metrics.remove("b")
        let after = render(metrics)
        #expect(!after.contains { $0.contains(#"account="b""#) })
        #expect(after.contains(#"mr_token_account_key_index{account="a"} 1.0"#))
    }

    @Test("label values and help text are escaped as the exposition format requires")
    func escaping() {
        var text = PrometheusText()
        text.family("x", type: "gauge", help: #"a \ b"# + "\nc")
        text.sample("x", labels: [("account", "q\"\\\n")], 1)
        #expect(
            String(decoding: text.bytes, as: UTF8.self)
                == "# HELP x a \\\\ b\\nc\n# TYPE x gauge\n" + #"x{account="q\"\\\n"} 1.0"# + "\n")
    }

    @Test("1,000 accounts: one set of series each, rendered in name order")
    func manyAccounts() {
        let metrics = SidecarMetrics()
        let expiry = Date(timeIntervalSince1970: 2_000_000_000)
        for index in 0..<1_000 {
            metrics.record("a\(index)", record(.refreshed(changed: true), seconds: 0.1))
            metrics.publish(snapshot("a\(index)", expiresOn: expiry), now: expiry.addingTimeInterval(-10))
        }
        let lines = render(metrics)
        #expect(lines.filter { $0.hasPrefix("mr_token_state{") }.count == 1_000)
        #expect(lines.filter { $0.hasPrefix("mr_token_refresh_attempts_total{") }.count == 1_000)
        // Accounts in name order.
        let order = lines.filter { $0.hasPrefix("mr_token_expiry_timestamp_seconds{") }
        #expect(order == order.sorted())
    }
}
