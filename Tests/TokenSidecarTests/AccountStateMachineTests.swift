import AzureCore
import Foundation
import MixedRealityAuthentication
import SidecarConfig
import TestSupport
import Testing
import TokenSidecarTesting

@testable import TokenSidecar

/// One account's config, as a test needs it.
func machineAccount(
    name: String = "anchors", accountId: String = "6a8b0c3e-1111-4222-8333-944455556666", notify: String = ""
) throws -> AccountConfiguration {
    let yaml = """
        accounts:
          - name: \(name)
            accountId: \(accountId)
            accountDomain: eastus2.mixedreality.azure.com
            credential: {type: accountKey, keyFile: /etc/mr/key}
            output: {path: /var/run/mixedreality/\(name).token}
        \(notify)
        """
    return try ConfigLoader.parse(yaml, file: "test.yaml", environment: [:]).accounts[0]
}

@Suite("Account state machine (pure, manual time)")
struct AccountStateMachineTests {
    typealias Machine = AccountStateMachine<ManualClock>
    let start = ManualClock.Instant(Date(timeIntervalSince1970: 1_800_000_000))
    let accountId = "6a8b0c3e-1111-4222-8333-944455556666"

    func machine(jitter: Double = 0) throws -> Machine {
        Machine(account: try machineAccount(), policy: policy(at: 0.5, jitter: jitter))
    }

    func token(
        issuedAt instant: ManualClock.Instant, lifetime: TimeInterval = 86400, accountId: String? = nil,
        withoutAid: Bool = false,
        nonce: Int = 0
    ) -> String {
        ScriptedTokenSource.token(
            accountId: withoutAid ? nil : accountId ?? self.accountId, issuedAt: instant.date, lifetime: lifetime,
            nonce: nonce)
    }

    /// A valid token with something appended that makes it unsafe to write or to source.
    func misshapen(_ kind: String, issuedAt instant: ManualClock.Instant) -> String {
        let good = token(issuedAt: instant)
        return switch kind {
        case "fourth part": good + ".AAAA"
        case "shell syntax": good + "$(id)"
        case "newline": good + "\nexport X=1"
        default: good + String(repeating: "A", count: 17 * 1024)  // beyond 16 KiB
        }
    }

    /// The kinds of the actions, for compact expectations.
    func kinds(_ actions: [Machine.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .exchange: "exchange"
            case .write: "write"
            case .notify: "notify"
            case .record(let record): "record:\(record.result)"
            case .warn: "warn"
            case .publish: "publish"
            case .sleep: "sleep"
            case .finish: "finish"
            }
        }
    }

    func sleepDeadline(_ actions: [Machine.Action]) -> ManualClock.Instant? {
        for case .sleep(let deadline) in actions { return deadline }
        return nil
    }

    @Test("a valid file of the account is adopted: no exchange until its refresh point")
    func adoptsValidFile() throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        let issued = start.advanced(by: .seconds(-3600))
        let actions = machine.start(onDisk: token(issuedAt: issued), now: start, using: &generator)
        #expect(kinds(actions) == ["record:adopted", "publish", "sleep"])
        #expect(sleepDeadline(actions) == issued.advanced(by: .seconds(43200)), "half of the 24 h lifetime")
        #expect(machine.snapshot().state(at: start.date) == .fresh)
        // Woken early: sleep on; at the deadline: exchange.
        #expect(kinds(machine.timerFired(now: start.advanced(by: .seconds(60)))) == ["sleep"])
        #expect(kinds(machine.timerFired(now: issued.advanced(by: .seconds(43200)))) == ["exchange"])
    }

    @Test(
        "a file that is missing, expired, of another account, without an account id, misshapen, or without the STS's 24-hour lifetime is replaced at once",
        arguments: [
            "missing", "expired", "other account", "no aid", "fourth part", "shell syntax", "too large", "too far",
            "a week", "an hour", "issued in the future",
        ])
    func replacesBadFile(kind: String) throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        let onDisk: String? =
            switch kind {
            case "missing": nil
            case "expired": token(issuedAt: start.advanced(by: .seconds(-90000)))
            case "other account": token(issuedAt: start, accountId: "0b7d9e2a-3c4f-4a5b-8c6d-7e8f90a1b2c3")
            case "no aid": token(issuedAt: start, withoutAid: true)
            case "fourth part", "shell syntax", "too large": misshapen(kind, issuedAt: start)
            // What another container of the pod plants: `iat` now, `exp` a week away.
            case "a week": token(issuedAt: start, lifetime: 7 * 86400)
            case "an hour": token(issuedAt: start, lifetime: 3600)
            case "issued in the future": token(issuedAt: start.advanced(by: .seconds(3600)))
            default: token(issuedAt: start, lifetime: 30 * 86400)
            }
        let actions = machine.start(onDisk: onDisk, now: start, using: &generator)
        let expected =
            ["missing", "expired"].contains(kind) ? ["publish", "exchange"] : ["warn", "publish", "exchange"]
        #expect(kinds(actions) == expected)
        #expect(machine.snapshot().state(at: start.date) == (kind == "expired" ? .expired : .failing))
    }

    @Test(
        "a new token is written, then recorded, published, notified and slept on; the same token is not written again")
    func writesChangedTokensOnly() throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        _ = machine.start(onDisk: nil, now: start, using: &generator)
        #expect(kinds(machine.exchangeStarted(now: start)) == ["publish"])
        #expect(machine.snapshot().state(at: start.date) == .refreshing)
        let first = token(issuedAt: start)
        let done = start.advanced(by: .milliseconds(80))
        #expect(
            kinds(machine.exchangeSucceeded(ScriptedTokenSource.exchanged(first), now: done, using: &generator)) == [
                "write"
            ])
        let written = machine.tokenWritten(now: done, using: &generator)
        #expect(kinds(written) == ["record:success", "publish", "notify", "sleep"])
        guard case .record(let record) = written[0] else { throw Failure("not a record") }
        #expect(abs((record.duration ?? .zero).milliseconds - 80) < 0.01)
        #expect(machine.snapshot().state(at: done.date) == .fresh)
        #expect(machine.snapshot().lastRefresh == done.date)

        let due = try #require(sleepDeadline(written))
        #expect(kinds(machine.timerFired(now: due)) == ["exchange"])
        _ = machine.exchangeStarted(now: due)
        let again = machine.exchangeSucceeded(ScriptedTokenSource.exchanged(first), now: due, using: &generator)
        #expect(kinds(again) == ["record:success", "publish", "sleep"], "unchanged: no write, no notification")
    }

    @Test(
        "a token that must not replace the file is a bad_token failure and the file stays",
        arguments: [
            "expired", "other account", "no aid", "shorter-lived", "not a JWT", "fourth part", "shell syntax",
            "newline",
            "too large", "too far",
        ])
    func refusesBadTokens(kind: String) throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        // A token this process obtained: a floor for the next answer's expiry.
        let onDisk = token(issuedAt: start)
        _ = machine.start(onDisk: nil, now: start, using: &generator)
        _ = machine.exchangeStarted(now: start)
        _ = machine.exchangeSucceeded(ScriptedTokenSource.exchanged(onDisk), now: start, using: &generator)
        _ = machine.tokenWritten(now: start, using: &generator)
        let now = start.advanced(by: .seconds(50000))
        _ = machine.exchangeStarted(now: now)
        let answer: String =
            switch kind {
            case "expired": token(issuedAt: start.advanced(by: .seconds(-90000)))
            case "other account": token(issuedAt: now, accountId: "0b7d9e2a-3c4f-4a5b-8c6d-7e8f90a1b2c3")
            case "shorter-lived": token(issuedAt: now, lifetime: 600)
            case "no aid": token(issuedAt: now, withoutAid: true)
            case "too far": token(issuedAt: now, lifetime: 8 * 86400)
            case "fourth part", "shell syntax", "newline", "too large": misshapen(kind, issuedAt: now)
            default: "not-a-jwt"
            }
        let actions = machine.exchangeSucceeded(ScriptedTokenSource.exchanged(answer), now: now, using: &generator)
        #expect(kinds(actions) == ["record:bad_token", "publish", "sleep"])
        #expect(machine.tokenOnDisk?.token == onDisk)
        let snapshot = machine.snapshot()
        #expect(snapshot.state(at: now.date) == .stale)
        #expect(snapshot.consecutiveFailures == 1)
        #expect(snapshot.lastFailure?.correlationVector == "scripted-cv", "the call's ids stay with the failure")
    }

    @Test(
        "an adopted token is a hint, not a floor: the STS's first token replaces it even when it expires sooner; a token this process obtained is a floor"
    )
    func adoptedTokenIsAHint() throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        // Planted with the STS's lifetime, just within the margins (issued 4 minutes ahead, living
        // 24 hours and 290 s): adopted, and it is not a floor.
        let planted = token(issuedAt: start.advanced(by: .seconds(240)), lifetime: 86400 + 290)
        let adopted = machine.start(onDisk: planted, now: start, using: &generator)
        #expect(kinds(adopted) == ["record:adopted", "publish", "sleep"])
        let due = try #require(sleepDeadline(adopted))
        #expect(kinds(machine.timerFired(now: due)) == ["exchange"])
        _ = machine.exchangeStarted(now: due)
        let short = token(issuedAt: due, lifetime: 3600)  // expires 11 hours before the planted one
        #expect(
            kinds(machine.exchangeSucceeded(ScriptedTokenSource.exchanged(short), now: due, using: &generator)) == [
                "write"
            ])
        _ = machine.tokenWritten(now: due, using: &generator)
        #expect(machine.tokenOnDisk?.token == short)
        // The obtained token is a floor: an answer expiring before it is refused.
        let later = due.advanced(by: .seconds(1800))
        _ = machine.timerFired(now: later)
        _ = machine.exchangeStarted(now: later)
        let shorter = token(issuedAt: later, lifetime: 600)
        let refused = machine.exchangeSucceeded(ScriptedTokenSource.exchanged(shorter), now: later, using: &generator)
        #expect(kinds(refused) == ["record:bad_token", "publish", "sleep"])
        #expect(machine.tokenOnDisk?.token == short)
    }

    @Test("failures back off from minBackoff, honour Retry-After, keep the token; success resets the count")
    func failuresAndRecovery() throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        _ = machine.start(onDisk: nil, now: start, using: &generator)
        var now = start
        var deadlines: [Duration] = []
        for attempt in 1...4 {
            _ = machine.exchangeStarted(now: now)
            let retryAfter: Duration? = attempt == 3 ? .seconds(42) : nil
            let error = MixedRealityAuthenticationError(
                .serviceError, "the STS answered 503", httpStatus: 503, retryAfter: retryAfter, isRetriable: true)
            let actions = machine.exchangeFailed(error, now: now, using: &generator)
            #expect(kinds(actions) == ["record:service_error", "publish", "sleep"])
            let deadline = try #require(sleepDeadline(actions))
            deadlines.append(now.duration(to: deadline))
            #expect(machine.snapshot().state(at: now.date) == .failing)
            #expect(machine.snapshot().consecutiveFailures == attempt)
            now = deadline
            #expect(kinds(machine.timerFired(now: now)) == ["exchange"])
        }
        #expect(deadlines[0] >= .seconds(1) && deadlines[0] <= .seconds(1), "the first backoff is minBackoff")
        #expect(deadlines[2] >= .seconds(42), "Retry-After is a floor")
        _ = machine.exchangeStarted(now: now)
        _ = machine.exchangeSucceeded(ScriptedTokenSource.exchanged(token(issuedAt: now)), now: now, using: &generator)
        _ = machine.tokenWritten(now: now, using: &generator)
        let snapshot = machine.snapshot()
        #expect(snapshot.consecutiveFailures == 0)
        #expect(snapshot.state(at: now.date) == .fresh)
        #expect(snapshot.lastFailure?.error.metricLabel == "service_error", "the last trouble stays in /status")
    }

    @Test("a failed write leaves the token on disk as it was and is retried")
    func failedWrite() throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        let onDisk = token(issuedAt: start)
        _ = machine.start(onDisk: onDisk, now: start, using: &generator)
        let now = start.advanced(by: .seconds(50000))
        _ = machine.exchangeStarted(now: now)
        _ = machine.exchangeSucceeded(ScriptedTokenSource.exchanged(token(issuedAt: now)), now: now, using: &generator)
        let actions = machine.exchangeFailed(
            SidecarError(.writeFailed, "cannot write: No space left on device"), now: now, using: &generator)
        #expect(kinds(actions) == ["record:write_failed", "publish", "sleep"])
        #expect(machine.tokenOnDisk?.token == onDisk)
    }

    @Test("the state moves from fresh to expired with time alone; stop finishes the loop")
    func expiryWithoutEvents() throws {
        var generator = SeededGenerator(state: 7)
        var machine = try machine()
        // A 24-hour token issued 23 h 50 min ago: 600 s left.
        _ = machine.start(onDisk: token(issuedAt: start.advanced(by: .seconds(-85800))), now: start, using: &generator)
        let snapshot = machine.snapshot()
        #expect(snapshot.state(at: start.date) == .fresh)
        #expect(snapshot.state(at: start.date.addingTimeInterval(601)) == .expired)
        #expect(kinds(machine.stop()) == ["finish"])
        #expect(kinds(machine.timerFired(now: start.advanced(by: .seconds(600)))).isEmpty, "no event after stop")
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
