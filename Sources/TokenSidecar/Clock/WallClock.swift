import AzureCore

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// An instant that can be placed on the wall clock: what a token's expiry (`exp`, seconds since
/// 1970) and a `Retry-After` date are compared with. The state machine works with any clock whose
/// instants are such (the system's, a test's manual one).
package protocol WallTimeInstant: InstantProtocol, Sendable where Duration == Swift.Duration {
    /// The instant at a wall-clock date.
    init(_ date: Date)
    /// The wall-clock date of the instant.
    var date: Date { get }
}

/// A clock whose instants are wall-clock moments: the refresh loops, the read tracker and the
/// probe server read and sleep on one. The real one is ``SystemWallClock``; tests drive a manual one.
package protocol WallClock: Clock where Instant: WallTimeInstant, Duration == Swift.Duration {}

extension WallClock {
    /// The time now, as a date.
    package var date: Date { now.date }

    /// Sleeps until the wall-clock `date`.
    package func sleep(untilDate date: Date) async throws {
        try await sleep(until: Instant(date), tolerance: nil)
    }
}

/// A wall clock's time and sleep as dates, for the parts that are not generic over the clock (the
/// read tracker, the metrics).
package struct WallTime: Sendable {
    /// The time now.
    package let now: @Sendable () -> Date
    /// Sleeps until a date.
    package let sleep: @Sendable (Date) async throws -> Void

    package init<C: WallClock>(_ clock: C) {
        now = { clock.date }
        sleep = { try await clock.sleep(untilDate: $0) }
    }
}

/// A moment of wall-clock time, as a date: the instant of ``SystemWallClock``.
package struct WallInstant: WallTimeInstant, Hashable, CustomStringConvertible {
    /// The moment as a date.
    package var date: Date

    package init(_ date: Date) {
        self.date = date
    }

    package func advanced(by duration: Duration) -> WallInstant {
        WallInstant(date.addingTimeInterval(duration.seconds))
    }

    package func duration(to other: WallInstant) -> Duration {
        .seconds(other.date.timeIntervalSince(date))
    }

    package static func < (lhs: WallInstant, rhs: WallInstant) -> Bool { lhs.date < rhs.date }

    package var description: String { date.formatted(.iso8601) }
}

/// The system's wall clock. Sleeps measure the remaining time when they start and wait it out on
/// `timer` (a monotonic clock); a wall-clock jump during a sleep is caught by the caller, which
/// compares the time it wakes at with the deadline.
package struct SystemWallClock: WallClock {
    /// What the sleeps wait on: the executable's event-loop clock (an idle sidecar never wakes),
    /// `ContinuousClock` elsewhere.
    package let timer: any Clock<Duration>

    package init(timer: any Clock<Duration>) {
        self.timer = timer
    }

    package var now: WallInstant { WallInstant(Date()) }

    package var minimumResolution: Duration { .milliseconds(1) }

    package func sleep(until deadline: WallInstant, tolerance: Duration?) async throws {
        let remaining = deadline.date.timeIntervalSinceNow
        guard remaining > 0 else {
            try Task.checkCancellation()
            return
        }
        try await timer.sleep(for: .seconds(remaining))
    }
}
