import AzureCore
import DaemonSupport
import Foundation
import Logging
import MixedRealityAuthentication
import SidecarConfig
import TestSupport
import Testing
import TokenSidecarTesting

@testable import TokenSidecar

/// The real driver on a manual clock, with an in-memory sink and a scripted token source.
struct DriverFixture {
    let clock = ManualClock()
    let sink = InMemorySink()
    let board = StatusBoard()
    let logs = LogCapture()
    let account: AccountConfiguration
    let environment: RefreshEnvironment<ManualClock>

    init(notify: String = "") throws {
        account = try machineAccount(notify: notify)
        let metrics = SidecarMetrics(board: board, clock: WallTime(clock))
        environment = RefreshEnvironment(
            clock: clock, sink: sink, board: board, metrics: metrics, limiter: ConcurrencyLimiter(limit: 1),
            notifier: try Notifier(pipelineOptions: .init(), metrics: metrics), logger: logs.logger())
    }

    var accountId: String { account.accountId.value }
    var path: String { account.output.path }

    func token(issuedAt date: Date, lifetime: TimeInterval = 86400, nonce: Int = 0) -> String {
        ScriptedTokenSource.token(accountId: accountId, issuedAt: date, lifetime: lifetime, nonce: nonce)
    }

    func refresher(_ source: ScriptedTokenSource) -> AccountRefresher<ManualClock> {
        AccountRefresher(account: account, policy: policy(at: 0.5, jitter: 0), source: source, environment: environment)
    }

    var onDisk: String? { sink.contents(path).map { String(decoding: $0, as: UTF8.self) } }

    /// Puts a token issued `age` ago in the output file, as a previous run would have left it.
    func writeExisting(age: TimeInterval) throws -> String {
        let token = token(issuedAt: clock.now.date.addingTimeInterval(-age))
        try sink.write(Array(token.utf8), to: path, mode: 0o440, owner: nil, group: nil)
        return token
    }

    /// A token source answering every call with a fresh token.
    func healthySource() -> ScriptedTokenSource {
        ScriptedTokenSource(clock: clock) { now, call in
            .success(ScriptedTokenSource.response(token(issuedAt: now, nonce: call)))
        }
    }
}

@Suite("Account refresher: the real loop on a manual clock")
struct AccountRefresherTests {
    @Test("a valid file is adopted with no exchange; at its refresh point the new token is written; stop ends the loop")
    func adoptThenRefresh() async throws {
        let fixture = try DriverFixture()
        let start = fixture.clock.now.date
        let existing = try fixture.writeExisting(age: 3600)
        let source = fixture.healthySource()
        let loop = fixture.refresher(source)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loop.run() }
            await fixture.clock.waitForSleepers(1)
            #expect(source.callCount == 0)
            #expect(fixture.logs.contains(level: .info, message: "adopted the valid token already on disk"))
            #expect(fixture.clock.nextDeadline?.date == start.addingTimeInterval(43200 - 3600))
            #expect(fixture.board.all.first?.state(at: start) == .fresh)

            fixture.clock.advance(by: .seconds(43200 - 3600))
            await fixture.clock.waitForSleepers(1)
            #expect(source.callCount == 1)
            #expect(fixture.onDisk != existing)
            let expiry = fixture.onDisk.flatMap { try? JWTExpiry.expiry(of: $0) }
            #expect(expiry.map { $0 > fixture.clock.now.date.addingTimeInterval(86000) } == true)
            #expect(fixture.logs.contains(level: .info, message: "token refreshed"))
            loop.stop()
        }
        #expect(fixture.logs.leaked([existing, try #require(fixture.onDisk)]).isEmpty, "no token in the logs")
    }

    @Test("an upstream outage keeps the file, backs off and honours Retry-After; the first good answer is written")
    func outage() async throws {
        let fixture = try DriverFixture()
        let existing = try fixture.writeExisting(age: 50000)
        let source = ScriptedTokenSource(clock: fixture.clock) { now, call in
            guard call > 3 else {
                return .failure(
                    MixedRealityAuthenticationError(
                        .throttled, "the STS is throttling", httpStatus: 429,
                        retryAfter: call == 2 ? .seconds(30) : nil,
                        isRetriable: true))
            }
            return .success(ScriptedTokenSource.response(fixture.token(issuedAt: now, nonce: call)))
        }
        let loop = fixture.refresher(source)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loop.run() }
            var attempts: [Date] = []
            while source.callCount < 4 {
                await fixture.clock.waitForSleepers(1)
                attempts.append(fixture.clock.now.date)
                #expect(fixture.onDisk == existing || source.callCount == 4)
                if source.callCount >= 1 && source.callCount < 4 {
                    #expect(fixture.board.all.first?.state(at: fixture.clock.now.date) == .stale)
                }
                guard let next = fixture.clock.nextDeadline else { break }
                fixture.clock.advance(to: next)
            }
            await fixture.clock.waitForSleepers(1)
            let gaps = zip(attempts.dropFirst(), attempts).map { $0.timeIntervalSince($1) }
            #expect(gaps[0] >= 1, "minBackoff after the first failure")
            #expect(gaps[1] >= 30, "Retry-After after the second")
            #expect(fixture.onDisk != existing, "the first good answer is on disk")
            #expect(fixture.board.all.first?.consecutiveFailures == 0)
            #expect(fixture.logs.contains(level: .warning, message: "the token on disk is still valid"))
            loop.stop()
        }
    }

    @Test("a write that fails (a full disk) keeps the old file, is logged as write_failed and is retried")
    func fullDisk() async throws {
        let fixture = try DriverFixture()
        let existing = try fixture.writeExisting(age: 50000)
        fixture.sink.failWrites(1)
        let source = fixture.healthySource()
        let loop = fixture.refresher(source)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loop.run() }
            await fixture.clock.waitForSleepers(1)
            #expect(fixture.onDisk == existing)
            #expect(fixture.board.all.first?.lastFailure?.error.metricLabel == "write_failed")
            if let next = fixture.clock.nextDeadline { fixture.clock.advance(to: next) }
            await fixture.clock.waitForSleepers(1)
            #expect(fixture.onDisk != existing)
            #expect(source.callCount == 2)
            loop.stop()
        }
    }

    @Test("runOnce adopts a valid file without an exchange, writes when there is none, and returns a failure")
    func once() async throws {
        let fixture = try DriverFixture()
        let start = fixture.clock.now.date
        let answers = ScriptedTokenSource(clock: fixture.clock) { now, call in
            call == 1
                ? .success(ScriptedTokenSource.response(fixture.token(issuedAt: now)))
                : .failure(SidecarError(.secretFile, "the key file /etc/mr/key does not exist"))
        }
        #expect(await fixture.refresher(answers).runOnce() == nil)
        #expect(answers.callCount == 1)
        let written = try #require(fixture.onDisk)
        #expect(await fixture.refresher(answers).runOnce() == nil, "adopted")
        #expect(answers.callCount == 1)
        #expect(fixture.onDisk == written)

        fixture.clock.advance(to: ManualClock.Instant(start.addingTimeInterval(86400 * 0.6)))
        let failure = await fixture.refresher(answers).runOnce()
        #expect(failure?.error.metricLabel == "secret_file")
        #expect(fixture.onDisk == written, "the still-valid token stays")
    }
}
