import AzureCore
package import DaemonSupport
package import Logging
import MixedRealityAuthentication
package import SidecarConfig
import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// What every account's driver shares.
package struct RefreshEnvironment<C: WallClock>: Sendable {
    /// The clock the loop reads and sleeps on.
    package var clock: C
    /// Where token files are written.
    package var sink: any TokenSink
    /// Where snapshots are published.
    package var board: StatusBoard
    /// The metrics, fed from records and snapshots.
    package var metrics: SidecarMetrics
    /// Bounds the exchanges in flight.
    package var limiter: ConcurrencyLimiter
    /// Tells the application about new tokens.
    package var notifier: Notifier
    package var logger: Logger
    /// Told after each attempt (the memory trimmer waits for a quiet moment).
    package var onActivity: @Sendable () -> Void
    /// Sees the application's reads of the token files, if watching.
    package var readTracker: ReadTracker?
    /// Each account's jitter: the system's generator, or (tests) a seeded stream per account.
    package var jitter: @Sendable (_ account: String) -> JitterSource

    package init(
        clock: C, sink: any TokenSink, board: StatusBoard, metrics: SidecarMetrics, limiter: ConcurrencyLimiter,
        notifier: Notifier, logger: Logger, onActivity: @escaping @Sendable () -> Void = {},
        readTracker: ReadTracker? = nil,
        jitter: @escaping @Sendable (_ account: String) -> JitterSource = { _ in .system }
    ) {
        self.jitter = jitter
        self.readTracker = readTracker
        self.clock = clock
        self.sink = sink
        self.board = board
        self.metrics = metrics
        self.limiter = limiter
        self.notifier = notifier
        self.logger = logger
        self.onActivity = onActivity
    }
}

/// Runs one account's ``AccountStateMachine``: performs its actions (exchange through the token
/// source, write through the sink, notify, publish, sleep on the clock) and feeds it their
/// outcomes. All decisions are the machine's.
package final class AccountRefresher<C: WallClock>: Sendable {
    package typealias Machine = AccountStateMachine<C>

    package let account: AccountConfiguration
    private let source: any TokenSource
    private let environment: RefreshEnvironment<C>
    /// The machine and the account's jitter stream, changed together.
    private let machine: Mutex<(machine: Machine, jitter: JitterSource)>
    private let stopRequested = Mutex(false)
    private let waker = Waker()
    /// Signalled when ``run()`` returns.
    package let finished = Completion()

    package init(
        account: AccountConfiguration, policy: RefreshConfiguration, source: any TokenSource,
        environment: RefreshEnvironment<C>
    ) {
        self.account = account
        self.source = source
        self.environment = environment
        self.machine = Mutex((Machine(account: account, policy: policy), environment.jitter(account.name.value)))
    }

    private var logger: Logger {
        var logger = environment.logger
        logger[metadataKey: LogKeys.account] = "\(account.name)"
        return logger
    }

    /// The loop: adopt or exchange, then sleep and refresh until ``stop()``. The application's
    /// reads of the account's files reach the machine meanwhile.
    package func run() async {
        environment.readTracker?.receiveReads(of: account.name.value) { [weak self] time in
            self?.applicationRead(at: time)
        }
        defer {
            environment.readTracker?.stopReceivingReads(of: account.name.value)
            finished.signal()
        }
        var pending = start()
        while !pending.isEmpty {
            let action = pending.removeFirst()
            if case .finish = action { return }
            pending += await perform(action)
        }
    }

    /// Writes the token once (adopting a valid file): `nil` on success, else the failure.
    package func runOnce() async -> AttemptFailure? {
        var pending = start()
        var failure: AttemptFailure?
        while !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .sleep, .finish:
                return failure
            case .record(let record):
                if case .failed(let failed) = record.outcome { failure = failed } else { failure = nil }
                pending += await perform(action)
            default:
                pending += await perform(action)
            }
        }
        return failure
    }

    /// Asks the loop to end after the attempt in flight, if any.
    package func stop() {
        stopRequested.withLock { $0 = true }
        waker.wake()
    }

    private var isStopping: Bool { stopRequested.withLock { $0 } || Task.isCancelled }

    /// The application opened a token file of the account: the machine's snapshot says so.
    package func applicationRead(at time: Date) {
        let actions = machine.withLock { $0.machine.applicationRead(at: time) }
        for case .publish(let snapshot) in actions { environment.board.publish(snapshot) }
    }

    /// Removes temporary files a crash left and hands the first output's token to the machine;
    /// when it adopts it, the other outputs that do not hold it get it too (no STS call).
    private func start() -> [Machine.Action] {
        let removed = account.outputs.reduce(0) { $0 + environment.sink.removeStaleTemporaries(for: $1.path) }
        if removed > 0 {
            logger.notice(
                "removed temporary files left by an interrupted write", metadata: [LogKeys.count: .integer(removed)])
        }
        let onDisk = read(account.output)
        let actions = event { machine, now, generator in machine.start(onDisk: onDisk, now: now, using: &generator) }
        let adopted = machine.withLock { $0.machine.tokenOnDisk }
        if let onDisk, let adopted, adopted.token == onDisk {
            for output in account.outputs.dropFirst() where read(output) != onDisk {
                do {
                    try write(adopted, to: output)
                } catch {
                    // The next refresh writes every output again.
                    logger.warning(
                        "could not copy the adopted token to another output",
                        metadata: [LogKeys.path: "\(output.path)", LogKeys.errorMessage: "\(error.message)"])
                }
            }
        }
        return actions
    }

    /// The token in an output file, as the sidecar itself reads it (not counted as the app's read).
    private func read(_ output: OutputConfiguration) -> String? {
        environment.readTracker?.expectOwnOpen(of: output.path)
        guard let bytes = environment.sink.read(output.path) else {
            environment.readTracker?.cancelOwnOpen(of: output.path)
            return nil
        }
        return TokenFileFormat.token(in: bytes, format: output.format)
    }

    /// Performs one action; returns what the machine answers to its outcome.
    private func perform(_ action: Machine.Action) async -> [Machine.Action] {
        switch action {
        case .exchange:
            return await exchange()
        case .write(let token):
            return write(token)
        case .notify(let expiresOn):
            await notify(expiresOn: expiresOn)
            return []
        case .record(let record):
            AttemptLog(record: record, logger: logger).emit()
            environment.metrics.record(account.name.value, record)
            environment.onActivity()
            return []
        case .warn(let message):
            logger.warning("\(message)")
            return []
        case .publish(let snapshot):
            environment.board.publish(snapshot)
            return []
        case .sleep(let deadline):
            if !isStopping { _ = await waker.sleep(until: deadline, on: environment.clock) }
            if isStopping { return event { machine, _, _ in machine.stop() } }
            return event { machine, now, _ in machine.timerFired(now: now) }
        case .finish:
            return []
        }
    }

    private func exchange() async -> [Machine.Action] {
        do {
            return try await environment.limiter.withPermit {
                guard !isStopping else { return event { machine, _, _ in machine.stop() } }
                let started = event { machine, now, _ in machine.exchangeStarted(now: now) }
                for action in started { _ = await perform(action) }
                do {
                    let exchanged = try await source.token(logger: logger)
                    return event { machine, now, generator in
                        machine.exchangeSucceeded(exchanged, now: now, using: &generator)
                    }
                } catch {
                    // Every error the token source throws is one of the project's; anything else (a
                    // cancellation) is the sidecar's `cancelled`.
                    let failure = SidecarError.typed(
                        error, otherwise: .cancelled, "the exchange was cancelled", isRetriable: true)
                    return event { machine, now, generator in
                        machine.exchangeFailed(failure, now: now, using: &generator)
                    }
                }
            }
        } catch {
            // The wait for a permit was cancelled: the sidecar is stopping.
            return event { machine, _, _ in machine.stop() }
        }
    }

    /// Writes the token to every output, each atomically; a failure of one is the attempt's
    /// (the outputs written keep the new token, the others their old one, until the retry).
    private func write(_ token: AccessToken) -> [Machine.Action] {
        do {
            for output in account.outputs { try write(token, to: output) }
            return event { machine, now, generator in machine.tokenWritten(now: now, using: &generator) }
        } catch {
            return event { machine, now, generator in machine.exchangeFailed(error, now: now, using: &generator) }
        }
    }

    private func write(_ token: AccessToken, to output: OutputConfiguration) throws(SidecarError) {
        let now = environment.clock.date
        let bytes = TokenFileFormat.render(
            token, format: output.format, accountId: account.accountId.value, accountDomain: account.accountDomain,
            refreshedAt: now)
        try environment.sink.write(
            bytes, to: output.path, mode: output.mode.bits, owner: output.owner, group: output.group)
        environment.readTracker?.written(account: account.name.value, path: output.path, at: now)
    }

    private func notify(expiresOn: Date) async {
        guard account.notify != nil else { return }
        do {
            try await environment.notifier.notify(account: account, expiresOn: expiresOn, logger: logger)
        } catch {
            logger.warning("could not notify the application", metadata: [LogKeys.errorMessage: "\(error.message)"])
        }
    }

    /// Feeds the machine one event at the clock's current time, with the account's jitter stream.
    private func event(
        _ body: (inout Machine, C.Instant, inout JitterSource) -> [Machine.Action]
    ) -> [Machine.Action] {
        let now = environment.clock.now
        return machine.withLock { body(&$0.machine, now, &$0.jitter) }
    }

}
