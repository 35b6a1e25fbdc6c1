import AzureCore
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The timing rules of the refresh loop.
public struct RefreshPolicy: Sendable, Hashable {
    /// The fraction of a token's lifetime after which it is refreshed.
    public var at: Double
    /// ± this fraction of the lifetime, drawn at random for each token.
    public var jitter: Double
    /// The first backoff after a failure.
    public var minBackoff: Duration
    /// The longest backoff.
    public var maxBackoff: Duration

    public init(at: Double = 0.5, jitter: Double = 0.1, minBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(300)) {
        self.at = at
        self.jitter = jitter
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
    }

    init(_ configuration: RefreshConfiguration) {
        self.init(
            at: configuration.at, jitter: configuration.jitter, minBackoff: configuration.minBackoff.duration,
            maxBackoff: configuration.maxBackoff.duration)
    }
}

/// Decides when an account's token is refreshed next. Pure: it takes the time and a random
/// source and returns dates, so it is tested with a manual clock and no sleeps.
///
/// After a good token: at `issuedAt + lifetime * (at ± jitter)`, never before now nor after the
/// expiry. After a failure: exponential backoff from `minBackoff` doubling to `maxBackoff`, drawn
/// with full jitter in `minBackoff...ceiling`, at least the server's `Retry-After`, and never past
/// the expiry of the token still being served. Success resets the backoff; there is no state in
/// which an account stops being retried.
public struct RefreshScheduler: Sendable {
    public let policy: RefreshPolicy
    /// Failures since the last success.
    public private(set) var consecutiveFailures = 0

    public init(policy: RefreshPolicy) {
        self.policy = policy
    }

    /// The refresh point of a token, as a fraction of its lifetime.
    public static func refreshPoint(issuedAt: Date, expiresOn: Date, fraction: Double) -> Date {
        issuedAt.addingTimeInterval(max(0, expiresOn.timeIntervalSince(issuedAt)) * fraction)
    }

    /// The next attempt after a token was obtained or adopted.
    /// - Parameters:
    ///   - issuedAt: The token's `iat` (or when it was received).
    ///   - expiresOn: Its expiry.
    ///   - now: The current time.
    ///   - generator: The random source for the jitter.
    public mutating func nextAfterSuccess<R: RandomNumberGenerator>(
        issuedAt: Date, expiresOn: Date, now: Date, using generator: inout R
    ) -> Date {
        consecutiveFailures = 0
        let spread = policy.jitter > 0 ? Double.random(in: -policy.jitter...policy.jitter, using: &generator) : 0
        let point = Self.refreshPoint(issuedAt: issuedAt, expiresOn: expiresOn, fraction: policy.at + spread)
        return max(now, min(point, expiresOn))
    }

    /// The next attempt after a failure.
    /// - Parameters:
    ///   - now: The current time.
    ///   - retryAfter: The wait the server asked for, if any.
    ///   - currentExpiry: The expiry of the token still served, if any.
    ///   - generator: The random source for the jitter.
    public mutating func nextAfterFailure<R: RandomNumberGenerator>(
        now: Date, retryAfter: Duration?, currentExpiry: Date?, using generator: inout R
    ) -> Date {
        consecutiveFailures += 1
        let ceiling = Self.ceiling(policy: policy, failures: consecutiveFailures)
        let floor = policy.minBackoff.seconds
        var delay = ceiling > floor ? Double.random(in: floor...ceiling, using: &generator) : ceiling
        if let retryAfter { delay = max(delay, retryAfter.seconds) }
        var next = now.addingTimeInterval(delay)
        if let currentExpiry, currentExpiry > now {
            // Try again before the token being served expires, whatever the backoff says.
            let lastChance = max(now, currentExpiry.addingTimeInterval(-min(floor, currentExpiry.timeIntervalSince(now) / 2)))
            next = min(next, lastChance)
        }
        return next
    }

    /// `min(maxBackoff, minBackoff * 2^(failures - 1))` in seconds.
    public static func ceiling(policy: RefreshPolicy, failures: Int) -> TimeInterval {
        let maximum = policy.maxBackoff.seconds
        var value = policy.minBackoff.seconds
        for _ in 1..<max(1, failures) {
            value *= 2
            if value >= maximum { return maximum }
        }
        return min(value, maximum)
    }
}
