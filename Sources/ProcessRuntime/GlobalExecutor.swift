import AzureCore
import CProcessRuntime
package import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Runs Swift concurrency's global executor on NIO's event loops, immediate and delayed jobs
/// alike, so that an idle daemon never wakes.
///
/// On Linux the default global executor is libdispatch's global concurrent queues, and the first
/// job sent to one of them starts libdispatch's workqueue monitor: a timer that wakes the process
/// every second for as long as it lives, whether or not there is work (docs/benchmarks.md). NIO's
/// `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()` moves immediate
/// jobs only (`Task.sleep` still goes to a dispatch timer on a global queue), and looks the hook up
/// with `dlsym`, which finds nothing in a static binary that exports no symbols. This sets the
/// three hooks from C instead (`CProcessRuntime`, with the runtime's own hook types and calling
/// convention), and runs every job on `MultiThreadedEventLoopGroup.singleton`: immediate jobs with
/// `execute`, delayed ones with `scheduleTask`, whose timers NIO folds into its `epoll_wait`
/// timeout. `Task.sleep` is not such a job: in Swift 6.3 it goes to `DispatchGlobalTaskExecutor`,
/// past these hooks, and arms a dispatch timer on a global queue; the daemons sleep on
/// ``EventLoopClock`` instead. An idle event loop blocks in `epoll_wait` with no timeout until a
/// timer is due, a socket, a signal or inotify fires.
///
/// Task priorities are not honoured (NIO's loops have none); the daemons' jobs are short and
/// their blocking work (an fsync, a file read) takes milliseconds.
package enum GlobalExecutor {
    /// What ``installNIO(environment:toolchainSupported:)`` did.
    package enum Installation: String, Sendable, Equatable {
        /// Every job runs on NIO's event loops.
        case installed
        /// `MR_GLOBAL_EXECUTOR=dispatch` asked for Swift's default executor.
        case requestedDefault
        /// This binary was compiled by another Swift release than the one the hooks were written
        /// and tested for: the default executor runs.
        case unsupportedToolchain
        /// Something else set a hook first: it is left alone, and the default executor runs.
        case hookTaken

        /// The line that says so, at debug level.
        package var description: String {
            switch self {
            case .installed: "Swift concurrency runs on NIO's event loops"
            case .requestedDefault: "Swift's default global executor runs (MR_GLOBAL_EXECUTOR=dispatch)"
            case .unsupportedToolchain:
                "Swift's default global executor runs: the event-loop hooks are for the Swift release of .swift-version (6.3), and this binary was compiled by another"
            case .hookTaken: "Swift's default global executor runs: another executor hook was installed first"
            }
        }
    }

    /// Whether this binary was compiled by the Swift release the hooks were written and tested
    /// for. The hooks' signatures and the runtime's clock ids are the runtime's private interface,
    /// which changed between releases (as NIO guards its own takeover by compiler version).
    package static let toolchainSupported: Bool = {
        #if compiler(>=6.3) && compiler(<6.4)
        true
        #else
        false
        #endif
    }()

    /// Logs at debug what `main` installed, if it installed anything.
    package static func logInstallation(to logger: Logger) {
        guard let installation else { return }
        logger.debug(
            "\(installation.description)", metadata: [LogKeys.executor: "\(installation.rawValue)"])
    }

    /// The clock the daemons sleep and time out on: ``EventLoopClock`` when the hooks are
    /// installed, `ContinuousClock` otherwise (`MR_GLOBAL_EXECUTOR=dispatch` and the other
    /// fallbacks leave nothing of this runtime's choices in place: jobs and sleeps are Swift's
    /// defaults).
    package static var clock: any Clock<Duration> {
        installation == .installed ? EventLoopClock() : ContinuousClock()
    }

    /// What the process's `main` installed, for its first debug line.
    package static var installation: Installation? { installed.withLock { $0 } }
    private static let installed = Mutex<Installation?>(nil)

    /// Installs the hooks; call once, first thing in `main`, before any task exists. Changes
    /// nothing when `MR_GLOBAL_EXECUTOR=dispatch` asks for the default executor, when the binary
    /// was compiled by another Swift release than ``toolchainSupported`` names, or when another
    /// executor hook is already installed.
    /// - Parameters:
    ///   - environment: Where `MR_GLOBAL_EXECUTOR` is read.
    ///   - toolchainSupported: Whether the compiler was the one the hooks were made for (the
    ///     tests pass `false` to take the other path).
    @discardableResult
    package static func installNIO(
        environment: [String: String], toolchainSupported: Bool = toolchainSupported
    ) -> Installation {
        let outcome = install(environment: environment, toolchainSupported: toolchainSupported)
        installed.withLock { $0 = $0 ?? outcome }
        return outcome
    }

    private static func install(environment: [String: String], toolchainSupported: Bool) -> Installation {
        if environment["MR_GLOBAL_EXECUTOR"] == "dispatch" { return .requestedDefault }
        guard toolchainSupported else { return .unsupportedToolchain }
        // A C function pointer: the C hooks (with the runtime's types and calling convention)
        // hand every job here, a deadline already turned into a delay on the runtime's clock.
        let installed = mr_install_executor_hooks { job, nanoseconds in
            guard let job else { return }
            GlobalExecutor.schedule(unsafeBitCast(job, to: UnownedJob.self), in: nanoseconds)
        }
        return installed == 1 ? .installed : .hookTaken
    }

    /// Runs the job on an event loop, now or after a delay.
    private static func schedule(_ job: UnownedJob, in nanoseconds: UInt64) {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let run: @Sendable () -> Void = { job.runSynchronously(on: loop.executor.asUnownedSerialExecutor()) }
        if nanoseconds == 0 {
            loop.execute(run)
        } else {
            loop.scheduleTask(in: .nanoseconds(Int64(clamping: nanoseconds)), run)
        }
    }
}
