import DaemonSupport
import Foundation
import Testing
import TokenSidecarTesting

@testable import TokenSidecar

/// The per-account series as the sidecar renders them itself (no registry object per series).
@Suite("SidecarMetrics")
struct SidecarMetricsTests {
    typealias Record = AttemptRecord

    func record(_ outcome: Record.Outcome, seconds: Double?) -> Record {
        Record(
            outcome: outcome, duration: seconds.map { .nanoseconds(Int64($0 * 1e9)) }, expiresOn: nil,
            nextAttempt: Date(), correlationVector: nil, msCV: nil, consecutiveFailures: 0)
    }

    func snapshot(
        _ name: String, expiresOn: Date?, failures: Int = 0, keyFile: KeyFileInUse? = nil
    ) -> AccountSnapshot {
        AccountSnapshot(
            name: name, accountId: "id", output: "/out", inFlight: false, expiresOn: expiresOn,
            lastRefresh: expiresOn.map { $0.addingTimeInterval(-86_400) }, consecutiveFailures: failures,
            keyFile: keyFile)
    }

    /// Metrics over a board, scraped at the manual clock's time.
    func metrics(at date: Date) -> (SidecarMetrics, StatusBoard, ManualClock) {
        let board = StatusBoard()
        let clock = ManualClock(start: date)
        return (SidecarMetrics(board: board, clock: WallTime(clock)), board, clock)
    }

    func render(_ metrics: SidecarMetrics) -> [String] {
        var text = PrometheusText()
        metrics.collect(into: &text)
        return String(decoding: text.bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test(
        "attempts, cumulative duration buckets, states shown by scrapes, gauges from the snapshots; a removed account disappears"
    )
    func rendering() {
        let expiry = Date(timeIntervalSince1970: 2_000_000_000)
        let (metrics, board, clock) = metrics(at: expiry.addingTimeInterval(-10))
        metrics.record("b", record(.refreshed(changed: true), seconds: 0.2))
        metrics.record("b", record(.refreshed(changed: true), seconds: 3))
        metrics.record("b", record(.adopted, seconds: nil))
        board.publish(snapshot("b", expiresOn: expiry))
        _ = render(metrics)
        clock.advance(by: .seconds(5))
        board.publish(snapshot("b", expiresOn: expiry, failures: 1))
        board.publish(snapshot("a", expiresOn: expiry, keyFile: KeyFileInUse(index: 1, path: "/keys/secondary")))
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
        board.remove("b")
        let after = render(metrics)
        #expect(!after.contains { $0.contains(#"account="b""#) })
        #expect(after.contains(#"mr_token_account_key_index{account="a"} 1.0"#))
    }

    @Test("docs/config.md lists exactly the attempt results the error types derive (SidecarMetrics.results)")
    func resultsInTheDocs() throws {
        let docs = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appending(path: "docs/config.md"), encoding: .utf8)
        // The sentence that lists them, up to its end.
        let sentence = try #require(
            docs.components(separatedBy: "The attempt `result` is ").dropFirst().first?.components(separatedBy: ". |")
                .first)
        let listed = sentence.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        let ignored: Set = ["lastError.kind", "/status"]
        #expect(Set(listed).subtracting(ignored) == Set(SidecarMetrics.results))
        #expect(listed.filter { !ignored.contains($0) }.count == SidecarMetrics.results.count, "each once")
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

    @Test(
        "an account's state is the scrape's: mr_token_state says expired as soon as the token has, with no event, as /status does"
    )
    func stateAtScrapeTime() {
        let expiry = Date(timeIntervalSince1970: 2_000_000_000)
        let (metrics, board, clock) = metrics(at: expiry.addingTimeInterval(-60))
        board.publish(snapshot("a", expiresOn: expiry, failures: 2))
        #expect(render(metrics).contains(#"mr_token_state{account="a",state="stale"} 1.0"#))
        clock.advance(by: .seconds(61))
        let lines = render(metrics)
        #expect(lines.contains(#"mr_token_state{account="a",state="expired"} 1.0"#))
        #expect(lines.contains(#"mr_token_state{account="a",state="stale"} 0.0"#))
        #expect(AccountStatus(board.snapshot("a")!, now: clock.date).state == "expired", "/status agrees")
    }

    @Test("the read gauges appear only when the application's reads are watched")
    func readGauges() {
        let board = StatusBoard()
        let clock = ManualClock()
        var watched = snapshot("a", expiresOn: clock.date.addingTimeInterval(3600))
        watched.lastWrite = clock.date.addingTimeInterval(-10)
        watched.lastRead = clock.date.addingTimeInterval(-5)
        board.publish(watched)
        let tracking = render(SidecarMetrics(board: board, clock: WallTime(clock), tracksReads: true))
        #expect(tracking.contains(#"mr_token_read_since_write{account="a"} 1.0"#))
        #expect(tracking.contains { $0.hasPrefix(#"mr_token_last_read_timestamp_seconds{account="a"}"#) })
        let plain = render(SidecarMetrics(board: board, clock: WallTime(clock)))
        #expect(!plain.contains { $0.hasPrefix("mr_token_read_since_write") })
        #expect(plain.contains { $0.hasPrefix(#"mr_token_written_timestamp_seconds{account="a"}"#) })
    }

    @Test("1,000 accounts: one set of series each, rendered in name order")
    func manyAccounts() {
        let expiry = Date(timeIntervalSince1970: 2_000_000_000)
        let (metrics, board, _) = metrics(at: expiry.addingTimeInterval(-10))
        for index in 0..<1_000 {
            metrics.record("a\(index)", record(.refreshed(changed: true), seconds: 0.1))
            board.publish(snapshot("a\(index)", expiresOn: expiry))
        }
        let lines = render(metrics)
        #expect(lines.filter { $0.hasPrefix("mr_token_state{") }.count == 1_000)
        #expect(lines.filter { $0.hasPrefix("mr_token_refresh_attempts_total{") }.count == 1_000)
        // Accounts in name order.
        let order = lines.filter { $0.hasPrefix("mr_token_expiry_timestamp_seconds{") }
        #expect(order == order.sorted())
    }
}
