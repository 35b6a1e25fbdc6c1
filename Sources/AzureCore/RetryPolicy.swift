public import NIOHTTP1

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// How the HTTP pipeline retries a failed try (protocol Decisions table: 3 retries, exponential
/// from 0.8 s with full jitter, cap 60 s; 408, 429, 500, 502, 503, 504 and transport errors).
public struct RetryOptions: Sendable, Hashable {
    /// Retries after the first try (default 3; 0 disables retries).
    public var maxRetries: Int
    /// The base of the exponential backoff (default 0.8 s).
    public var initialDelay: Duration
    /// The cap of one backoff delay (default 60 s).
    public var maxDelay: Duration
    /// The longest server-requested wait (`Retry-After` and its variants) the pipeline sleeps
    /// through itself (default 60 s). A longer one ends the call with the response, so that the
    /// caller (the sidecar's refresh loop) can schedule it without holding a task.
    public var maxRetryAfter: Duration
    /// The statuses that are retried.
    public var retriableStatuses: Set<Int>

    /// Creates retry options.
    /// - Parameters:
    ///   - maxRetries: Retries after the first try (default 3).
    ///   - initialDelay: Exponential base (default 0.8 s).
    ///   - maxDelay: Cap of one delay (default 60 s).
    ///   - maxRetryAfter: Longest server-requested wait slept in the pipeline (default 60 s).
    ///   - retriableStatuses: Statuses retried (default 408, 429, 500, 502, 503, 504).
    public init(
        maxRetries: Int = 3,
        initialDelay: Duration = .milliseconds(800),
        maxDelay: Duration = .seconds(60),
        maxRetryAfter: Duration = .seconds(60),
        retriableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504]
    ) {
        self.maxRetries = max(0, maxRetries)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
        self.retriableStatuses = retriableStatuses
    }

    /// The delay before retry number `retry` (0 for the first retry): a uniformly random value
    /// in `0...min(maxDelay, initialDelay * 2^retry)` ("full jitter").
    package func backoff<R: RandomNumberGenerator>(retry: Int, using generator: inout R) -> Duration {
        let ceiling = Self.exponential(base: initialDelay, attempt: retry, cap: maxDelay)
        let ceilingNanos = ceiling.nanoseconds
        guard ceilingNanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...ceilingNanos, using: &generator))
    }

    /// `min(cap, base * 2^attempt)` without overflow.
    package static func exponential(base: Duration, attempt: Int, cap: Duration) -> Duration {
        var value = base
        for _ in 0..<max(0, min(attempt, 62)) {
            value = value * 2
            if value >= cap { return cap }
        }
        return min(value, cap)
    }
}

/// Reads a server's request to wait before trying again.
public enum RetryAfter: Sendable {
    /// The wait requested by `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds) or
    /// `Retry-After` (seconds or an HTTP-date), in that order; `nil` when none is present or
    /// parsable. A date in the past gives zero.
    /// - Parameters:
    ///   - headers: The response headers.
    ///   - now: The current time, for HTTP-dates.
    public static func parse(_ headers: HTTPHeaders, now: Date = Date()) -> Duration? {
        for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
            if let text = headers.first(name: name)?.trimmed,
                let millis = Double(text), millis.isFinite, millis >= 0
            {
                return .milliseconds(Int64(min(millis, 1e12)))
            }
        }
        guard let text = headers.first(name: "retry-after")?.trimmed, !text.isEmpty
        else { return nil }
        if let seconds = Double(text), seconds.isFinite {
            return seconds <= 0 ? .zero : .milliseconds(Int64(min(seconds, 1e9) * 1000))
        }
        if let date = HTTPDate.parse(text) {
            let interval = date.timeIntervalSince(now)
            return interval <= 0 ? .zero : .milliseconds(Int64(min(interval, 1e9) * 1000))
        }
        return nil
    }
}
