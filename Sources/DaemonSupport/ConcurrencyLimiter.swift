import AzureCore
import Synchronization

/// Bounds how many tasks run a body at once, first come first served: the sidecar's exchanges,
/// the servers' requests in flight.
package final class ConcurrencyLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextId: UInt64 = 0
    }
    private let state: Mutex<State>
    /// The most permits ever held at once (for tests and benchmarks).
    private let peakHeld = Mutex(0)
    package let limit: Int

    package init(limit: Int) {
        self.limit = max(1, limit)
        self.state = Mutex(State(available: max(1, limit)))
    }

    package var peak: Int { peakHeld.withLock { $0 } }

    /// Runs `body` holding a permit, waiting for one in turn.
    /// - Throws: `CancellationError` when the wait is cancelled; what `body` throws.
    package func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// Runs `body` holding a permit if one is free now; `nil` (and `body` not run) otherwise.
    /// - Throws: What `body` throws.
    package func withPermitIfFree<T: Sendable>(_ body: () async throws -> T) async rethrows -> T? {
        let granted = state.withLock { state -> Bool in
            guard state.available > 0 else { return false }
            state.available -= 1
            return true
        }
        guard granted else { return nil }
        defer { release() }
        return try await body()
    }

    /// Runs `body` holding a permit, or returns `nil` when none came within `wait` on `clock`.
    /// - Throws: `CancellationError` when the task is cancelled; what `body` throws.
    package func withPermit<T: Sendable>(
        waitingAtMost wait: Duration, on clock: any Clock<Duration>, _ body: () async throws -> T
    ) async throws
        -> T?
    {
        let acquired = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await self.acquire()
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await clock.sleep(for: wait)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            // A permit granted as the timer fired is kept: the body runs.
            let second = await group.next() ?? false
            return first || second
        }
        guard acquired else {
            try Task.checkCancellation()
            return nil
        }
        defer { release() }
        return try await body()
    }

    private func acquire() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted = state.withLock { state -> Bool in
                    if state.available > 0 {
                        state.available -= 1
                        return true
                    }
                    state.waiters.append((id, continuation))
                    return false
                }
                if granted { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
        let held = state.withLock { limit - $0.available }
        peakHeld.withLock { $0 = max($0, held) }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
