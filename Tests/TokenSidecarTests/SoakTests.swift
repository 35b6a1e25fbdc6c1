import AzureCore
import Foundation
import TestSupport
import Testing
@testable import TokenSidecar

/// The upstream over simulated time: alternating up and down intervals, down ones of every size
/// (blips of seconds, outages of minutes, and a few longer than a token's whole refresh window).
struct UpstreamTimeline {
    /// Sorted, disjoint down intervals.
    var outages: [Range<TimeInterval>] = []

    init(days: Int, using generator: inout SeededGenerator) {
        var t: TimeInterval = 0
        let end = TimeInterval(days) * 86400
        while t < end {
            t += Double.random(in: 60...(12 * 3600), using: &generator)
            let kind = Int.random(in: 0..<100, using: &generator)
            let length: TimeInterval =
                kind < 70 ? Double.random(in: 1...120, using: &generator)
                : kind < 95 ? Double.random(in: 300...3600, using: &generator)
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

@Suite("Soak: the refresh schedule over 30 simulated days")
struct SoakTests {
    @Test("50 accounts, 30 days, random outages: no token expires while the upstream was reachable in its window")
    func thirtyDays() {
        let days = 30
        let accountCount = 50
        let lifetime: TimeInterval = 86400
        let policy = RefreshPolicy()
        var generator = SeededGenerator(state: 30)
        let upstream = UpstreamTimeline(days: days, using: &generator)
        let epoch = Date(timeIntervalSince1970: 1_800_000_000)
        let end = TimeInterval(days) * 86400

        struct Account {
            var scheduler: RefreshScheduler
            var issuedAt: TimeInterval
            var expiresOn: TimeInterval
            var next: TimeInterval
            /// When the schedule first tries to replace the current token.
            var refreshAt: TimeInterval = 0
        }
        // Every account starts with a fresh token at a random moment of its first day.
        var accounts = (0..<accountCount).map { _ -> Account in
            let issued = Double.random(in: -lifetime...0, using: &generator)
            return Account(scheduler: RefreshScheduler(policy: policy), issuedAt: issued, expiresOn: issued + lifetime, next: 0)
        }
        for index in accounts.indices {
            accounts[index].next =
                accounts[index].scheduler.nextAfterSuccess(
                    issuedAt: epoch.addingTimeInterval(accounts[index].issuedAt),
                    expiresOn: epoch.addingTimeInterval(accounts[index].expiresOn), now: epoch, using: &generator
                ).timeIntervalSince(epoch)
            accounts[index].refreshAt = accounts[index].next
        }

        var attempts = 0
        var successes = 0
        var violations: [String] = []
        var expiredWhileDown = 0
        var earliestGap = TimeInterval.infinity
        // The longest wait the scheduler may choose: maxBackoff (Retry-After in this model is at most 120 s).
        let stretch = policy.maxBackoff.seconds + 1

        func close(_ account: Account, at t: TimeInterval) {
            // The token served from its refresh point until t: if it expired before t, the upstream
            // must have been down for the whole of every stretch long enough to be found.
            guard account.expiresOn < t else { return }
            if upstream.hasUpStretch(of: stretch, in: account.refreshAt..<account.expiresOn) {
                violations.append("token issued at \(account.issuedAt) expired at \(account.expiresOn), replaced at \(t)")
            } else {
                expiredWhileDown += 1
            }
        }

        while true {
            guard let index = accounts.indices.min(by: { accounts[$0].next < accounts[$1].next }), accounts[index].next < end
            else { break }
            let t = accounts[index].next
            let now = epoch.addingTimeInterval(t)
            attempts += 1
            if upstream.isUp(t) {
                successes += 1
                close(accounts[index], at: t)
                accounts[index].issuedAt = t
                accounts[index].expiresOn = t + lifetime
                let next = accounts[index].scheduler.nextAfterSuccess(
                    issuedAt: now, expiresOn: now.addingTimeInterval(lifetime), now: now, using: &generator)
                accounts[index].next = next.timeIntervalSince(epoch)
                accounts[index].refreshAt = accounts[index].next
                earliestGap = min(earliestGap, accounts[index].next - t)
            } else {
                let retryAfter: Duration? = Bool.random(using: &generator) ? .seconds(Int.random(in: 0...120, using: &generator)) : nil
                let next = accounts[index].scheduler.nextAfterFailure(
                    now: now, retryAfter: retryAfter, currentExpiry: epoch.addingTimeInterval(accounts[index].expiresOn),
                    using: &generator)
                #expect(next >= now)
                if let retryAfter, accounts[index].expiresOn - t > retryAfter.seconds {
                    // Retry-After is honoured unless the token being served would expire first.
                    #expect(next.timeIntervalSince(now) >= retryAfter.seconds || next.timeIntervalSince(epoch) < accounts[index].expiresOn)
                }
                // While the token is still valid, the next try always comes before its expiry.
                if accounts[index].expiresOn > t {
                    #expect(next.timeIntervalSince(epoch) <= accounts[index].expiresOn)
                }
                accounts[index].next = max(next.timeIntervalSince(epoch), t + 0.001)
            }
        }
        for account in accounts { close(account, at: end) }
        #expect(violations.isEmpty, "\(violations.prefix(3))")
        // Good tokens are not thrown away: a refresh comes at 40% of the lifetime at the earliest.
        #expect(earliestGap >= lifetime * (policy.at - policy.jitter) - 1)
        Reliability.report(
            "soak",
            [
                "days": days, "accounts": accountCount, "outages": upstream.outages.count,
                "longestOutageHours": String(format: "%.1f", (upstream.outages.map { $0.upperBound - $0.lowerBound }.max() ?? 0) / 3600),
                "attempts": attempts, "successes": successes, "expiredOnlyWhileUnreachable": expiredWhileDown,
                "violations": violations.count,
            ])
    }
}
