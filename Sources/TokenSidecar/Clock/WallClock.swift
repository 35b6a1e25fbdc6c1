import AzureCore

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// A moment of wall-clock time: what token expiries (`exp`, seconds since 1970) are measured in.
package struct WallInstant: InstantProtocol, Hashable, Sendable, CustomStringConvertible {
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

/// A clock whose instants are wall-clock moments: the refresh loop reads and sleeps on one.
/// The real one is ``SystemWallClock``; tests drive a manual one.
package protocol WallClock: Clock where Instant == WallInstant, Duration == Swift.Duration {}

/// The system's wall clock. Sleeps measure the remaining time when they start, on the monotonic
/// clock; a wall-clock jump during a sleep is caught by the caller, which compares the time it
/// wakes at with the deadline.
package struct SystemWallClock: WallClock {
    package init() {}

    package var now: WallInstant { WallInstant(Date()) }

    package var minimumResolution: Duration { .milliseconds(1) }

    package func sleep(until deadline: WallInstant, tolerance: Duration?) async throws {
        let remaining = deadline.date.timeIntervalSinceNow
        guard remaining > 0 else {
            try Task.checkCancellation()
            return
        }
        // On an event-loop timer: Task.sleep would start libdispatch's once-a-second monitor.
        try await EventLoopSleep.sleep(for: .seconds(remaining))
    }
}
