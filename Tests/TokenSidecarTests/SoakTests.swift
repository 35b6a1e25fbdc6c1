import AzureCore
import DaemonSupport
import Foundation
import Logging
import MixedRealityAuthentication
import SidecarConfig
import Synchronization
import TestSupport
import Testing
import TokenSidecar
import TokenSidecarTesting

/// The upstream over simulated time: alternating up and down intervals, down ones of every size
/// (blips of seconds, outages of minutes, and a few longer than a token's whole refresh window).
struct UpstreamTimeline: Sendable {
    /// Sorted, disjoint down intervals.
    var outages: [Range<TimeInterval>] = []

    init(days: Int, using generator: inout SeededGenerator) {
        var t: TimeInterval = 0
        let end = TimeInterval(days) * 86400
        while t < end {
            t += Double.random(in: 60...(12 * 3600), using: &generator)
            let kind = Int.random(in: 0..<100, using: &generator)
            let length: TimeInterval =
                kind < 70
                ? Double.random(in: 1...120, using: &generator)
                : kind < 95
                    ? Double.random(in: 300...3600, using: &generator)
                    : Double.random(in: 6 * 3600...30 * 3600, using: &generator)
            outages.append(t..<(t + length))
            t += length
        }
    }

    func isUp(_ t: TimeInterval) -> Bool {
        !outages.contains { $0.contains(t) }
    }

    /// Whether the upstream is up for at least `length` without a break somewhere in `window`.
    func hasUpStretch(of length: TimeInterval, in window: Range<TimeInterval>) -> Bool {
        var start = window.lowerBound
        for outage in outages where outage.upperBound > window.lowerBound && outage.lowerBound < window.upperBound {
            if outage.lowerBound - start >= length { return true }
            start = max(start, outage.upperBound)
        }
        return window.upperBound - start >= length
    }
}

/// Every exchange an account's token source was asked for, by simulated time.
final class ExchangeLog: Sendable {
    struct Call: Sendable {
        var at: TimeInterval
        var succeeded: Bool
        var retryAfter: Duration?
    }

    private let calls = Mutex<[String: [Call]]>([:])

    func record(_ account: String, _ call: Call) { calls.withLock { $0[account, default: []].append(call) } }

    var all: [String: [Call]] { calls.withLock { $0 } }
}

/// One soak run: what every account's token source was asked, and how many files were written.
struct SoakRun: Sendable {
    var upstream: UpstreamTimeline
    var calls: [String: [ExchangeLog.Call]]
    var writes: Int
    var epoch: Date
    var end: Date
}

extension ExchangeLog.Call: Equatable {}

@Suite("Soak: the real refresh loop over 30 simulated days", .serialized, Reliability.heavySuite)
struct SoakTests {
    /// Runs `accountCount` accounts for `days` on a manual clock, with outages, initial tokens and
    /// every account's jitter drawn from `seed`: the same seed gives the same run.
    func soak(
        days: Int, accountCount: Int, seed: UInt64, lifetime: TimeInterval, rules: RefreshConfiguration
    )
        async throws -> SoakRun
    {
        var generator = SeededGenerator(state: seed)
        let upstream = UpstreamTimeline(days: days, using: &generator)
        let epoch = Date(timeIntervalSince1970: 1_800_000_000)
        let end = epoch.addingTimeInterval(TimeInterval(days) * 86400)
        let clock = ManualClock(start: epoch)
        let log = ExchangeLog()
        let sink = InMemorySink()
        let quiet = Logger(label: "soak", factory: { _ in SwiftLogNoOpLogHandler() })
        let board = StatusBoard()
        let metrics = SidecarMetrics(board: board, clock: WallTime(clock))
        let environment = RefreshEnvironment(
            clock: clock, sink: sink, board: board, metrics: metrics,
            limiter: ConcurrencyLimiter(limit: rules.maxConcurrent),
            notifier: try Notifier(pipelineOptions: .init(), metrics: metrics), logger: quiet,
            jitter: { .seeded(seed, account: $0) })

        // Every account starts with a valid token on disk, issued at a random moment of the last day.
        var loops: [AccountRefresher<ManualClock>] = []
        for index in 0..<accountCount {
            let account = try soakAccount(index)
            let accountId = account.accountId.value
            let issued = epoch.addingTimeInterval(-Double.random(in: 0..<lifetime, using: &generator))
            try sink.write(
                Array(ScriptedTokenSource.token(accountId: accountId, issuedAt: issued, lifetime: lifetime).utf8),
                to: account.output.path, mode: 0o440, owner: nil, group: nil)
            // Down: a 503, half of the time with a Retry-After of up to 2 minutes.
            let retryAfters = (0..<4096).map { _ in
                Bool.random(using: &generator) ? Duration.seconds(Int.random(in: 0...120, using: &generator)) : nil
            }
            let source = ScriptedTokenSource(clock: clock) { now, call in
                let t = now.timeIntervalSince(epoch)
                guard upstream.isUp(t) else {
                    let retryAfter = retryAfters[call % retryAfters.count]
                    log.record(account.name.value, .init(at: t, succeeded: false, retryAfter: retryAfter))
                    return .failure(
                        MixedRealityAuthenticationError(
                            .serviceError, "the STS answered 503", httpStatus: 503, retryAfter: retryAfter,
                            isRetriable: true))
                }
                log.record(account.name.value, .init(at: t, succeeded: true))
                return .success(
                    ScriptedTokenSource.response(
                        ScriptedTokenSource.token(accountId: accountId, issuedAt: now, lifetime: lifetime, nonce: call))
                )
            }
            loops.append(AccountRefresher(account: account, policy: rules, source: source, environment: environment))
        }

        await withTaskGroup(of: Void.self) { group in
            for loop in loops { group.addTask { await loop.run() } }
            // Each step: every loop asleep, then the clock jumps to the earliest deadline.
            while true {
                await clock.waitForSleepers(accountCount)
                guard let next = clock.nextDeadline, next.date < end else { break }
                clock.advance(to: next)
            }
            for loop in loops { loop.stop() }
        }
        return SoakRun(upstream: upstream, calls: log.all, writes: sink.writes, epoch: epoch, end: end)
    }

    @Test(
        "50 accounts, 30 days, random outages, on a manual clock: no token expires while the upstream was reachable in its window"
    )
    func thirtyDays() async throws {
        let days = 30
        let accountCount = 50
        let lifetime: TimeInterval = 86400
        let rules = RefreshConfiguration()
        let run = try await soak(days: days, accountCount: accountCount, seed: 30, lifetime: lifetime, rules: rules)
        let (upstream, epoch, end) = (run.upstream, run.epoch, run.end)

        // The longest wait the loop may choose: maxBackoff (Retry-After here is at most 120 s).
        let stretch = rules.maxBackoff.duration.seconds + 1
        var violations: [String] = []
        var expiredWhileDown = 0
        var earliestGap = TimeInterval.infinity
        var attempts = 0
        var successes = 0
        for (name, calls) in run.calls {
            attempts += calls.count
            // The token served, from each success to the next: it expires `lifetime` after it was issued.
            var issued: TimeInterval? = nil
            var refreshAt: TimeInterval? = nil
            var previous: ExchangeLog.Call? = nil
            for call in calls + [ExchangeLog.Call(at: end.timeIntervalSince(epoch), succeeded: true)] {
                defer { previous = call }
                if refreshAt == nil { refreshAt = call.at }
                // Retry-After is honoured, unless the token being served would expire first.
                if let previous, !previous.succeeded, let retryAfter = previous.retryAfter,
                    call.at - previous.at < retryAfter.seconds - 0.001
                {
                    // The token's exp is in whole seconds (iat rounded down, plus the lifetime).
                    let lastChance =
                        (issued ?? -.infinity).rounded(.down) + lifetime - rules.minBackoff.duration.seconds
                    if call.at < lastChance - 0.001 || call.at - previous.at < rules.minBackoff.duration.seconds - 0.001
                    {
                        violations.append(
                            "\(name): a Retry-After of \(retryAfter) at \(previous.at) ignored at \(call.at)")
                    }
                }
                guard call.succeeded else { continue }
                if let issued, let refreshAt {
                    let expiry = issued.rounded(.down) + lifetime
                    if expiry < call.at {
                        if upstream.hasUpStretch(of: stretch, in: refreshAt..<expiry) {
                            violations.append(
                                "\(name): token issued at \(issued) expired at \(expiry), replaced at \(call.at)")
                        } else {
                            expiredWhileDown += 1
                        }
                    }
                    if call.at < end.timeIntervalSince(epoch) { earliestGap = min(earliestGap, call.at - issued) }
                }
                if call.at < end.timeIntervalSince(epoch) { successes += 1 }
                issued = call.at
                refreshAt = nil
            }
        }
        #expect(violations.isEmpty, "\(violations.prefix(3))")
        #expect(successes >= accountCount * days, "a refresh a day at least")
        // Good tokens are not thrown away: a refresh comes at 40% of the lifetime at the earliest.
        #expect(earliestGap >= lifetime * (rules.at - rules.jitter) - 1)
        #expect(run.writes == accountCount + successes, "one write per new token, none for the same token")
        Reliability.report(
            "soak",
            [
                "days": days, "accounts": accountCount, "outages": upstream.outages.count,
                "longestOutageHours": String(
                    format: "%.1f", (upstream.outages.map { $0.upperBound - $0.lowerBound }.max() ?? 0) / 3600),
                "attempts": attempts, "successes": successes, "expiredOnlyWhileUnreachable": expiredWhileDown,
                "violations": violations.count,
            ])
    }

    @Test("a soak run is reproducible from its seed: outages, initial tokens and every account's jitter")
    func reproducible() async throws {
        let rules = RefreshConfiguration()
        let first = try await soak(days: 4, accountCount: 8, seed: 7, lifetime: 86400, rules: rules)
        let again = try await soak(days: 4, accountCount: 8, seed: 7, lifetime: 86400, rules: rules)
        #expect(first.calls.values.map(\.count).reduce(0, +) > 8 * 4, "a refresh a day at least")
        #expect(first.calls == again.calls, "the same exchanges at the same simulated times")
        #expect(first.writes == again.writes)
        let other = try await soak(days: 4, accountCount: 8, seed: 8, lifetime: 86400, rules: rules)
        #expect(other.calls != first.calls, "another seed, another run")
    }

    func soakAccount(_ index: Int) throws -> AccountConfiguration {
        let hex = String(index, radix: 16)
        let yaml = """
            accounts:
              - name: soak-\(index)
                accountId: \(String(repeating: "0", count: 8 - hex.count) + hex)-1111-4222-8333-944455556666
                accountDomain: eastus2.mixedreality.azure.com
                credential: {type: accountKey, keyFile: /soak/key}
                output: {path: /soak/\(index).token}
            """
        return try ConfigLoader.parse(yaml, file: "soak.yaml", environment: [:]).accounts[0]
    }
}
