import AzureCore
package import SidecarConfig

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// Decides when an account's token is refreshed next. Pure: it takes the time and a random
/// source and returns dates, so it is tested with a manual clock and no sleeps.
///
/// After a good token: at `issuedAt + lifetime * (at ± jitter)`, never before now nor after the
/// expiry. After a failure: exponential backoff from `minBackoff` doubling to `maxBackoff`, drawn
/// with full jitter in `minBackoff...ceiling`, at least the server's `Retry-After`, and never later
/// than `minBackoff` before the expiry of the token still being served (but never sooner than
/// `minBackoff` from now). Success resets the backoff; there is no state in which an account stops
/// being retried.
package struct RefreshScheduler: Sendable {
    /// The timing rules: `refresh` of the config, whose defaults live there alone.
    package let policy: RefreshConfiguration
    /// Failures since the last success.
    package private(set) var consecutiveFailures = 0

    package init(policy: RefreshConfiguration) {
        self.policy = policy
    }

    /// The refresh point of a token, as a fraction of its lifetime.
    package static func refreshPoint(issuedAt: Date, expiresOn: Date, fraction: Double) -> Date {
        issuedAt.addingTimeInterval(max(0, expiresOn.timeIntervalSince(issuedAt)) * fraction)
    }

    /// The next attempt after a token was obtained (`exchanged`) or adopted from the file.
    ///
    /// After an exchange the next attempt is never sooner than `minBackoff`, whatever the token
    /// says: a token already past its refresh point (an old `iat`, a skewed clock, the same token
    /// served again) backs off as failures do, doubling up to `maxBackoff` while such tokens keep
    /// coming, so that no answer can put the loop into a spin. It is still tried again before the
    /// token expires.
    /// - Parameters:
    ///   - issuedAt: The token's `iat` (or when it was received).
    ///   - expiresOn: Its expiry.
    ///   - now: The current time.
    ///   - exchanged: Whether the token came from an exchange just made (`false`: adopted at start).
    ///   - generator: The random source for the jitter.
    package mutating func nextAfterSuccess<R: RandomNumberGenerator>(
        issuedAt: Date, expiresOn: Date, now: Date, exchanged: Bool = true, using generator: inout R
    ) -> Date {
        consecutiveFailures = 0
        let spread = policy.jitter > 0 ? Double.random(in: -policy.jitter...policy.jitter, using: &generator) : 0
        let point = Self.refreshPoint(issuedAt: issuedAt, expiresOn: expiresOn, fraction: policy.at + spread)
        let next = max(now, min(point, expiresOn))
        let floor = policy.minBackoff.duration.seconds
        guard exchanged, next.timeIntervalSince(now) < floor else {
            consecutiveEarlyTokens = 0
            return next
        }
        consecutiveEarlyTokens += 1
        let ceiling = Self.ceiling(policy: policy, failures: consecutiveEarlyTokens)
        let delay = ceiling > floor ? Double.random(in: floor...ceiling, using: &generator) : ceiling
        let lastChance = max(now.addingTimeInterval(floor), expiresOn.addingTimeInterval(-floor))
        return min(now.addingTimeInterval(delay), lastChance)
    }

    /// Exchanges in a row whose token was already due: the backoff of a success.
    package private(set) var consecutiveEarlyTokens = 0

    /// The next attempt after a failure.
    /// - Parameters:
    ///   - now: The current time.
    ///   - retryAfter: The wait the server asked for, if any.
    ///   - currentExpiry: The expiry of the token still served, if any.
    ///   - generator: The random source for the jitter.
    package mutating func nextAfterFailure<R: RandomNumberGenerator>(
        now: Date, retryAfter: Duration?, currentExpiry: Date?, using generator: inout R
    ) -> Date {
        consecutiveFailures += 1
        let ceiling = Self.ceiling(policy: policy, failures: consecutiveFailures)
        let floor = policy.minBackoff.duration.seconds
        var delay = ceiling > floor ? Double.random(in: floor...ceiling, using: &generator) : ceiling
        if let retryAfter { delay = max(delay, retryAfter.seconds) }
        var next = now.addingTimeInterval(delay)
        if let currentExpiry, currentExpiry > now {
            // Try again before the token being served expires, whatever the backoff says: one
            // `minBackoff` before it. Never sooner than `minBackoff` from now, so that a token
            // about to expire is not chased by ever closer tries (it expires, and the backoff
            // goes on as for an account with no token).
            let lastChance = max(now.addingTimeInterval(floor), currentExpiry.addingTimeInterval(-floor))
            next = min(next, lastChance)
        }
        return next
    }

    /// `min(maxBackoff, minBackoff * 2^(failures - 1))` in seconds.
    package static func ceiling(policy: RefreshConfiguration, failures: Int) -> TimeInterval {
        let maximum = policy.maxBackoff.duration.seconds
        var value = policy.minBackoff.duration.seconds
        for _ in 1..<max(1, failures) {
            value *= 2
            if value >= maximum { return maximum }
        }
        return min(value, maximum)
    }
}
