import NIOCore
import NIOPosix

/// `Task.sleep` on a timer of NIO's event loops (`MultiThreadedEventLoopGroup.singleton`, the
/// loops the HTTP client already runs on).
///
/// On Linux, Swift 6.3's `Task.sleep` arms a libdispatch timer on a global queue, and the first
/// job on such a queue starts libdispatch's workqueue monitor, which wakes the process every second
/// from then on. The daemons sleep with this instead so that, idle, they never wake
/// (docs/benchmarks.md); a sleep costs one entry in an event loop's timer heap, folded into its
/// `epoll_wait` timeout.
public enum EventLoopSleep: Sendable {
    /// Suspends for `duration`, or throws `CancellationError` as soon as the task is cancelled.
    public static func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        guard duration > .zero else { return }
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let scheduled = loop.scheduleTask(in: TimeAmount(duration)) {}
        try await withTaskCancellationHandler {
            do {
                try await scheduled.futureResult.get()
            } catch {
                throw CancellationError()
            }
        } onCancel: {
            scheduled.cancel()
        }
    }
}
