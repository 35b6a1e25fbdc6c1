import CExecutorHooks
import NIOCore
import NIOPosix

/// Runs Swift concurrency's global executor on NIO's event loops, immediate and delayed jobs
/// alike, so that an idle daemon never wakes.
///
/// On Linux the default global executor is libdispatch's global concurrent queues, and the first
/// job sent to one of them starts libdispatch's workqueue monitor: a timer that wakes the process
/// every second for as long as it lives, whether or not there is work (docs/benchmarks.md). NIO's
/// `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()` moves immediate
/// jobs only (`Task.sleep` still goes to a dispatch timer on a global queue), and looks the hook up
/// with `dlsym`, which finds nothing in a static binary that exports no symbols. This sets the
/// three hooks through a C reference instead, and runs every job on
/// `MultiThreadedEventLoopGroup.singleton`: immediate jobs with `execute`, delayed ones with
/// `scheduleTask`, whose timers NIO folds into its `epoll_wait` timeout. An idle event loop blocks
/// in `epoll_wait` with no timeout until a timer is due, a socket, a signal or inotify fires.
///
/// Task priorities are not honoured (NIO's loops have none); the daemons' jobs are short and
/// their blocking work (an fsync, a file read) takes milliseconds.
package enum GlobalExecutor {
    private typealias Enqueue = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void
    private typealias EnqueueWithDelay =
        @convention(thin) (UInt64, UnownedJob, @convention(thin) (UInt64, UnownedJob) -> Void) -> Void
    private typealias EnqueueWithDeadline =
        @convention(thin) (
            Int64, Int64, Int64, Int64, Int32, UnownedJob,
            @convention(thin) (Int64, Int64, Int64, Int64, Int32, UnownedJob) -> Void
        ) -> Void

    /// Installs the hooks; call once, first thing in `main`, before any task exists. Returns
    /// `false` (and changes nothing) when another executor hook is already installed, or when
    /// `MR_GLOBAL_EXECUTOR=dispatch` asks for the default executor.
    @discardableResult
    package static func installNIO(environment: [String: String]) -> Bool {
        if environment["MR_GLOBAL_EXECUTOR"] == "dispatch" { return false }
        let enqueue: Enqueue = { job, _ in
            GlobalExecutor.schedule(job, in: 0)
        }
        let enqueueWithDelay: EnqueueWithDelay = { delay, job, _ in
            GlobalExecutor.schedule(job, in: delay)
        }
        let enqueueWithDeadline: EnqueueWithDeadline = { seconds, nanoseconds, _, _, clock, job, _ in
            GlobalExecutor.schedule(job, at: seconds, nanoseconds, clock: clock)
        }
        return mr_install_executor_hooks(
            unsafeBitCast(enqueue, to: UnsafeRawPointer.self),
            unsafeBitCast(enqueueWithDelay, to: UnsafeRawPointer.self),
            unsafeBitCast(enqueueWithDeadline, to: UnsafeRawPointer.self)) == 1
    }

    /// Runs the job on an event loop (the current one when called from one), now or after a delay.
    private static func schedule(_ job: UnownedJob, in nanoseconds: UInt64) {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let run: @Sendable () -> Void = { job.runSynchronously(on: loop.executor.asUnownedSerialExecutor()) }
        if nanoseconds == 0 {
            loop.execute(run)
        } else {
            loop.scheduleTask(in: .nanoseconds(Int64(clamping: nanoseconds)), run)
        }
    }

    /// A deadline of the runtime's clocks (1: continuous, 2: suspending), as a delay from now.
    private static func schedule(_ job: UnownedJob, at seconds: Int64, _ nanoseconds: Int64, clock: Int32) {
        schedule(job, in: UInt64(mr_nanoseconds_until(seconds, nanoseconds, clock)))
    }
}
