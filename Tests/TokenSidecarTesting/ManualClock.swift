import AzureCore
import Synchronization
import TokenSidecar

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// A wall clock that moves only when the test moves it. Sleepers wake when ``advance(to:)``
/// passes their deadline; ``waitForSleepers(_:)`` lets a test await the moment the code under test
/// is asleep, instead of sleeping itself.
///
/// Its instants are its own (nanoseconds since 1970), not the system clock's: the state machine
/// works with any clock whose instants map to the wall clock.
package final class ManualClock: WallClock, Sendable {
    package struct Instant: WallTimeInstant, Hashable, CustomStringConvertible {
        /// Seconds since 2001-01-01 (what `Date` holds, so that dates go through unchanged).
        package var seconds: Double

        package init(_ date: Date) {
            seconds = date.timeIntervalSinceReferenceDate
        }

        package var date: Date { Date(timeIntervalSinceReferenceDate: seconds) }

        package func advanced(by duration: Duration) -> Instant {
            var instant = self
            instant.seconds += duration.seconds
            return instant
        }

        package func duration(to other: Instant) -> Duration {
            .seconds(other.seconds - seconds)
        }

        package static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.seconds < rhs.seconds }

        package var description: String { date.formatted(.iso8601) }
    }

    private struct Sleeper {
        var id: UInt64
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Instant
        var sleepers: [Sleeper] = []
        var nextId: UInt64 = 0
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    /// - Parameter start: The time the clock shows first.
    package init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(now: Instant(start)))
    }

    package var now: Instant { state.withLock { $0.now } }

    package var minimumResolution: Duration { .nanoseconds(1) }

    /// How many tasks are sleeping on the clock.
    package var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline of the sleepers, if any sleeps.
    package var nextDeadline: Instant? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    package func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resumeNow, watchers) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if Task.isCancelled || deadline <= state.now { return (true, []) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return (false, Self.satisfiedWatchers(&state))
                }
                if resumeNow { continuation.resume() }
                for watcher in watchers { watcher.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Moves the clock to `instant` (never backwards) and wakes every sleeper whose deadline came.
    package func advance(to instant: Instant) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = max(state.now, instant)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves the clock by `duration`.
    package func advance(by duration: Duration) {
        advance(to: now.advanced(by: duration))
    }

    /// Returns once at least `count` tasks sleep on the clock.
    package func waitForSleepers(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.sleepers.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private static func satisfiedWatchers(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        let count = state.sleepers.count
        let ready = state.watchers.filter { $0.count <= count }.map(\.continuation)
        state.watchers.removeAll { $0.count <= count }
        return ready
    }
}
