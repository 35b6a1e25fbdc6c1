import NIOCore
import NIOPosix

/// The continuous clock, sleeping on a timer of NIO's event loops (`MultiThreadedEventLoopGroup.singleton`,
/// the loops the HTTP client and servers already run on): the clock the executables give the
/// daemons to sleep and time out on.
///
/// On Linux, Swift 6.3's `Task.sleep` (and `ContinuousClock.sleep`) arms a libdispatch timer on a
/// global queue through `DispatchGlobalTaskExecutor`, not through the runtime's enqueue hooks that
/// ``GlobalExecutor`` sets, and the first job on such a queue starts libdispatch's workqueue
/// monitor, which wakes the process every second from then on. A sleep on this clock costs one
/// entry in an event loop's timer heap, folded into its `epoll_wait` timeout, and an idle daemon
/// never wakes (docs/benchmarks.md). The libraries take the clock they sleep on as a parameter, so
/// that only the executables choose this one; tests pass `ContinuousClock` or a manual clock.
package struct EventLoopClock: Clock {
    package typealias Instant = ContinuousClock.Instant
    package typealias Duration = Swift.Duration

    package init() {}

    package var now: Instant { .now }

    package var minimumResolution: Duration { .microseconds(1) }

    /// Suspends until `deadline`, or throws `CancellationError` as soon as the task is cancelled.
    package func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let delay = Instant.now.duration(to: deadline)
        guard delay > .zero else { return }
        let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(delay)) {}
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
