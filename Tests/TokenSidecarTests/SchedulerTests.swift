import Foundation
import SidecarConfig
import TestSupport
import Testing

@testable import TokenSidecar

/// `refresh` of the config with these values (the defaults live in `RefreshConfiguration`).
func policy(
    at: Double = 0.5, jitter: Double = 0.1, minBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(300)
) -> RefreshConfiguration {
    RefreshConfiguration(
        at: at, jitter: jitter, minBackoff: ConfigDuration(minBackoff), maxBackoff: ConfigDuration(maxBackoff))
}

@Suite("Refresh scheduler (pure, manual time)")
struct SchedulerTests {
    let issued = Date(timeIntervalSince1970: 1_800_000_000)
    var expires: Date { issued.addingTimeInterval(86400) }

    @Test("the refresh point is at the configured fraction of the lifetime, within the jitter bounds")
    func refreshPointAndJitter() {
        var generator = SeededGenerator(state: 1)
        var scheduler = RefreshScheduler(policy: policy(at: 0.5, jitter: 0.1))
        var points: [TimeInterval] = []
        for _ in 0..<5000 {
            let next = scheduler.nextAfterSuccess(issuedAt: issued, expiresOn: expires, now: issued, using: &generator)
            points.append(next.timeIntervalSince(issued) / 86400)
        }
        #expect(points.allSatisfy { $0 >= 0.4 && $0 <= 0.6 })
        #expect(points.min()! < 0.41 && points.max()! > 0.59, "the jitter spreads over the whole band")
        let mean = points.reduce(0, +) / Double(points.count)
        #expect(abs(mean - 0.5) < 0.01)

        var exact = RefreshScheduler(policy: policy(at: 0.8, jitter: 0))
        #expect(
            exact.nextAfterSuccess(issuedAt: issued, expiresOn: expires, now: issued, using: &generator)
                == issued.addingTimeInterval(0.8 * 86400))
    }

    @Test("a token adopted late is refreshed now, never before now nor after its expiry")
    func clamps() {
        var generator = SeededGenerator(state: 2)
        var scheduler = RefreshScheduler(policy: policy(at: 0.5, jitter: 0))
        let late = issued.addingTimeInterval(60000)
        #expect(
            scheduler.nextAfterSuccess(
                issuedAt: issued, expiresOn: expires, now: late, exchanged: false, using: &generator) == late)
        let odd = scheduler.nextAfterSuccess(
            issuedAt: expires, expiresOn: issued, now: issued, exchanged: false, using: &generator)
        #expect(odd == issued)
    }

    @Test(
        "after an exchange the next one is never sooner than minBackoff; tokens already due back off, doubling, until one is not"
    )
    func earlyTokensBackOff() {
        var generator = SeededGenerator(state: 6)
        var scheduler = RefreshScheduler(
            policy: policy(at: 0.5, jitter: 0, minBackoff: .seconds(1), maxBackoff: .seconds(300)))
        // An STS answering with a token issued a day ago and valid for another hour: its refresh
        // point has passed when it arrives.
        var now = issued.addingTimeInterval(90000)
        var delays: [TimeInterval] = []
        for _ in 0..<12 {
            let next = scheduler.nextAfterSuccess(
                issuedAt: now.addingTimeInterval(-86400), expiresOn: now.addingTimeInterval(3600), now: now,
                using: &generator)
            delays.append(next.timeIntervalSince(now))
            now = next
        }
        #expect(delays.allSatisfy { $0 >= 1 }, "\(delays)")
        #expect(delays.suffix(4).max()! > 60, "the ceiling doubles: \(delays)")
        #expect(delays.allSatisfy { $0 <= 300 }, "never past maxBackoff")
        #expect(scheduler.consecutiveEarlyTokens == 12)
        // A good token puts things back as they were.
        let good = scheduler.nextAfterSuccess(
            issuedAt: now, expiresOn: now.addingTimeInterval(86400), now: now, using: &generator)
        #expect(good == now.addingTimeInterval(43200))
        #expect(scheduler.consecutiveEarlyTokens == 0)
    }

    @Test("backoff doubles from minBackoff to maxBackoff with full jitter, and success resets it")
    func backoffGrowthAndCap() {
        var generator = SeededGenerator(state: 3)
        let rules = policy(at: 0.5, jitter: 0.1, minBackoff: .seconds(1), maxBackoff: .seconds(300))
        #expect(
            (1...12).map { RefreshScheduler.ceiling(policy: rules, failures: $0) } == [
                1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300,
            ])
        var scheduler = RefreshScheduler(policy: rules)
        let now = issued
        for failure in 1...12 {
            let ceiling = RefreshScheduler.ceiling(policy: rules, failures: failure)
            let next = scheduler.nextAfterFailure(now: now, retryAfter: nil, currentExpiry: nil, using: &generator)
            let delay = next.timeIntervalSince(now)
            #expect(delay >= 1 && delay <= ceiling, "failure \(failure): \(delay) outside 1...\(ceiling)")
            #expect(scheduler.consecutiveFailures == failure)
        }
        var spread: [TimeInterval] = []
        for _ in 0..<2000 {
            var fresh = RefreshScheduler(policy: rules)
            for _ in 0..<5 {
                _ = fresh.nextAfterFailure(now: now, retryAfter: nil, currentExpiry: nil, using: &generator)
            }
            spread.append(
                fresh.nextAfterFailure(now: now, retryAfter: nil, currentExpiry: nil, using: &generator)
                    .timeIntervalSince(now))
        }
        #expect(spread.min()! < 3 && spread.max()! > 30, "full jitter over 1...32 s")
        _ = scheduler.nextAfterSuccess(issuedAt: issued, expiresOn: expires, now: now, using: &generator)
        #expect(scheduler.consecutiveFailures == 0)
        let afterReset = scheduler.nextAfterFailure(now: now, retryAfter: nil, currentExpiry: nil, using: &generator)
        #expect(afterReset.timeIntervalSince(now) <= 1)
    }

    @Test("Retry-After is a floor for the next attempt")
    func retryAfter() {
        var generator = SeededGenerator(state: 4)
        var scheduler = RefreshScheduler(policy: policy(minBackoff: .seconds(1), maxBackoff: .seconds(10)))
        for _ in 0..<100 {
            let next = scheduler.nextAfterFailure(
                now: issued, retryAfter: .seconds(42), currentExpiry: nil, using: &generator)
            #expect(next.timeIntervalSince(issued) >= 42)
        }
    }

    @Test(
        "one minBackoff before the expiry of the token being served, even against Retry-After; never sooner than minBackoff"
    )
    func neverPastExpiry() {
        var generator = SeededGenerator(state: 5)
        var scheduler = RefreshScheduler(policy: policy(minBackoff: .seconds(1), maxBackoff: .seconds(300)))
        let expiry = issued.addingTimeInterval(20)
        for _ in 0..<30 {
            let next = scheduler.nextAfterFailure(
                now: issued, retryAfter: .seconds(3600), currentExpiry: expiry, using: &generator)
            #expect(next == expiry.addingTimeInterval(-1), "as late as allowed: one minBackoff before expiry")
        }
        // A token expiring sooner than that is not chased by ever closer tries (each of which
        // would halve the time left): the next try is minBackoff away, and the token expires.
        for remaining in [1.5, 0.5, 0.001] {
            let next = scheduler.nextAfterFailure(
                now: issued, retryAfter: nil, currentExpiry: issued.addingTimeInterval(remaining), using: &generator)
            #expect(next.timeIntervalSince(issued) >= 1, "\(remaining) s left")
        }
    }
}
