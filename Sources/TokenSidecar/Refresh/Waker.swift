import AzureCore
import Synchronization

/// A sleep that another task can cut short. A wake before the sleep is kept, not lost.
final class Waker: Sendable {
    private struct State {
        var pending = false
        var continuation: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func wake() {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let continuation = state.continuation {
                state.continuation = nil
                return continuation
            }
            state.pending = true
            return nil
        }
        continuation?.resume()
    }

    /// Sleeps until `deadline` on `clock` (`nil`: until woken), a wake, or cancellation. Returns
    /// `true` when woken.
    func sleep<C: Clock>(until deadline: C.Instant?, on clock: C) async -> Bool {
        guard let deadline else { return await sleep(nil) }
        return await sleep { try await clock.sleep(until: deadline, tolerance: nil) }
    }

    /// Runs `sleeping` (`nil`: until woken) until it returns, a wake, or cancellation. Returns
    /// `true` when woken.
    func sleep(_ sleeping: (@Sendable () async throws -> Void)?) async -> Bool {
        if state.withLock({ state in
            defer { state.pending = false }
            return state.pending
        }) {
            return true
        }
        guard let sleeping else { return await waitForWake() }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await sleeping()
                return false
            }
            group.addTask { await self.waitForWake() }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func waitForWake() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.continuation = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            return !Task.isCancelled
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume()
        }
    }
}
