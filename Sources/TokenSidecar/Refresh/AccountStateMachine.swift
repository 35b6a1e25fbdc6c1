package import AzureCore
import MixedRealityAuthentication
package import SidecarConfig

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// One account's refresh loop as a pure state machine: events in (the file found at start, an
/// exchange started, succeeded or failed, the token written, the application's read, the timer
/// fired, stop), actions out (exchange, write this token, notify, record the attempt, publish a
/// snapshot, sleep until).
///
/// It reads no clock and does no I/O: every event carries the time, and randomness (the jitter)
/// comes from the caller, so tests drive it, and the driver that runs it, with a manual clock of
/// any instant type that maps to the wall clock (``WallTimeInstant``). It owns the account's
/// state, the key file in use and the application's reads included; `/status`, `/readyz` and the
/// metrics read the snapshots it publishes, never a copy of their own.
package struct AccountStateMachine<C: Clock>: Sendable where C.Instant: WallTimeInstant {
    /// What the driver does next.
    package enum Action: Sendable, Equatable {
        /// Run one exchange now (then report ``exchangeStarted(now:)`` and its outcome).
        case exchange
        /// Replace the output file with this token (then report ``tokenWritten(now:using:)`` or
        /// ``exchangeFailed(_:now:using:)`` with the write error).
        case write(AccessToken)
        /// Tell the application a new token is on disk.
        case notify(expiresOn: Date)
        /// Count and log an attempt.
        case record(AttemptRecord)
        /// Something the operator should know that is not an attempt: the file found at start is
        /// not adopted, and why.
        case warn(NotAdopted)
        /// Show this state in `/status`, `/readyz` and the metrics.
        case publish(AccountSnapshot)
        /// Wait until this moment, a wake or stop (then report ``timerFired(now:)`` or ``stop()``).
        case sleep(until: C.Instant)
        /// The loop is over.
        case finish
    }

    /// Why the token found on disk at start is not adopted (it is replaced by the first exchange).
    package enum NotAdopted: Sendable, Equatable, CustomStringConvertible {
        /// Not three base64url parts (what is wrong).
        case notJWT(String)
        /// No `aid` claim.
        case noAccountId
        /// The `aid` of another account.
        case otherAccount
        /// No `iat` claim.
        case noIssueTime
        /// `exp - iat`, in seconds, is not the STS's 24 hours.
        case lifetime(seconds: Int)
        /// `iat` is in the future.
        case issuedInFuture

        /// The log line.
        package var description: String {
            let what =
                switch self {
                case .notJWT(let problem): "a token that is not a JWT (\(problem))"
                case .noAccountId: "a token without an account id (aid claim)"
                case .otherAccount: "a token of another account"
                case .noIssueTime: "a token without an issue time (iat claim)"
                case .lifetime(let seconds): "a token living \(seconds) s, not the STS's 24 hours"
                case .issuedInFuture: "a token issued in the future"
                }
            return "the output file holds \(what); it will be replaced"
        }
    }

    private enum Phase: Sendable {
        case starting
        case waiting
        case exchanging(since: C.Instant)
        case writing(AccessToken, claims: JWTExpiry.Claims, since: C.Instant, cv: String?, msCV: String?)
        case stopped
    }

    /// The furthest expiry accepted: Mixed Reality tokens live 24 hours, so a token that claims
    /// to live for years (`exp` in 9999) is a bad answer, and would stop every refresh if kept.
    package static var maximumLifetime: TimeInterval { 7 * 86400 }

    /// The lifetime the STS gives its tokens (`exp - iat`, protocol §1.5: 24 hours), and how far a
    /// token found on disk may be from it to be adopted. Any container of the pod can write the
    /// token folder: a token planted there with a week's lifetime would otherwise be served, and
    /// would refuse every real token as expiring before it, until its own expiry.
    package static var stsLifetime: TimeInterval { 86400 }
    package static var adoptionMargin: TimeInterval { 300 }

    private let account: AccountConfiguration
    private var scheduler: RefreshScheduler
    private var phase = Phase.starting
    /// The token on disk (valid or expired), as far as this account knows.
    private var current: AccessToken?
    /// Whether `current` came from an exchange of this process, rather than from the file found at
    /// start: only such a token is a floor that a shorter-lived answer may not replace; an adopted
    /// one is a hint, replaced by the STS's first token whatever its expiry.
    private var obtained = false
    private var nextAttempt: C.Instant?
    private var lastRefresh: Date?
    private var lastFailure: AttemptFailure?
    /// The account key file the STS accepted last.
    private var keyFile: KeyFileInUse?
    /// When this process last wrote a new token, and when the application last opened it.
    private var lastWrite: Date?
    private var lastRead: Date?

    /// - Parameters:
    ///   - account: The account's config.
    ///   - policy: `refresh` of the config.
    package init(account: AccountConfiguration, policy: RefreshConfiguration) {
        self.account = account
        self.scheduler = RefreshScheduler(policy: policy)
    }

    // MARK: Events

    /// The loop starts: `onDisk` is the token in the output file, if it holds one. A valid token
    /// of this account with the STS's lifetime is adopted (no STS call until its refresh point);
    /// anything else is replaced by the first exchange, which is due at once.
    package mutating func start<R: RandomNumberGenerator>(
        onDisk token: String?, now: C.Instant, using generator: inout R
    ) -> [Action] {
        var actions: [Action] = []
        if let token, let claims = try? JWTExpiry.claims(of: token) {
            if let problem = adoptionProblem(token, claims, now: now.date) {
                actions.append(.warn(problem))
            } else {
                current = AccessToken(token: token, expiresOn: claims.expiresOn)
            }
        }
        guard let current, current.expiresOn > now.date else {
            phase = .waiting
            nextAttempt = now
            return actions + [.publish(snapshot()), .exchange]
        }
        let claims = try? JWTExpiry.claims(of: current.token)
        let next = scheduleAfterSuccess(
            issuedAt: claims?.issuedAt ?? now.date, expiresOn: current.expiresOn, now: now, exchanged: false,
            using: &generator)
        phase = .waiting
        guard next > now else { return actions + [.publish(snapshot()), .exchange] }
        let record = AttemptRecord(
            outcome: .adopted, duration: nil, expiresOn: current.expiresOn, nextAttempt: next.date,
            correlationVector: nil, msCV: nil, consecutiveFailures: 0)
        return actions + [.record(record), .publish(snapshot()), .sleep(until: next)]
    }

    /// An exchange begins (its permit acquired).
    package mutating func exchangeStarted(now: C.Instant) -> [Action] {
        phase = .exchanging(since: now)
        return [.publish(snapshot())]
    }

    /// The token source answered with a token. It is checked; a token that must not replace the
    /// file is a failure. A token equal to the file's is not written again. The key file the STS
    /// accepted is the one in use, whatever becomes of the token.
    package mutating func exchangeSucceeded<R: RandomNumberGenerator>(
        _ exchanged: ExchangedToken, now: C.Instant, using generator: inout R
    ) -> [Action] {
        guard case .exchanging(let since) = phase else { return [] }
        let response = exchanged.response
        if let used = exchanged.keyFile { keyFile = used }
        let claims: JWTExpiry.Claims
        do {
            claims = try check(response.accessToken, now: now.date)
        } catch {
            return failed(
                AttemptFailure(
                    error: error, at: now.date, correlationVector: response.correlationVector, msCV: response.msCV),
                since: since, now: now, using: &generator)
        }
        let token = AccessToken(token: response.accessToken.token, expiresOn: claims.expiresOn)
        phase = .writing(token, claims: claims, since: since, cv: response.correlationVector, msCV: response.msCV)
        if current?.token == token.token { return committed(changed: false, now: now, using: &generator) }
        return [.write(token)]
    }

    /// The token of ``exchangeSucceeded(_:now:using:)`` is on disk.
    package mutating func tokenWritten<R: RandomNumberGenerator>(now: C.Instant, using generator: inout R) -> [Action] {
        committed(changed: true, now: now, using: &generator)
    }

    /// The exchange, or the write of its token, failed.
    package mutating func exchangeFailed<R: RandomNumberGenerator>(
        _ error: any AzureError, now: C.Instant, using generator: inout R
    ) -> [Action] {
        let since: C.Instant
        switch phase {
        case .exchanging(let started), .writing(_, _, let started, _, _): since = started
        default: return []
        }
        return failed(AttemptFailure(error: error, at: now.date), since: since, now: now, using: &generator)
    }

    /// The application opened a token file of the account (the read tracker saw it).
    package mutating func applicationRead(at time: Date) -> [Action] {
        lastRead = time
        return [.publish(snapshot())]
    }

    /// The sleep ended (its deadline, a wake, or the clock moved): exchange if due, else sleep on.
    package mutating func timerFired(now: C.Instant) -> [Action] {
        guard case .waiting = phase, let nextAttempt else { return [] }
        return nextAttempt <= now ? [.exchange] : [.sleep(until: nextAttempt)]
    }

    /// Stop: nothing more is started; the file stays as it is.
    package mutating func stop() -> [Action] {
        phase = .stopped
        return [.finish]
    }

    // MARK: State

    /// What `/status`, `/readyz` and the metrics show.
    package func snapshot() -> AccountSnapshot {
        let inFlight: Bool
        switch phase {
        case .starting, .exchanging, .writing: inFlight = true
        case .waiting, .stopped: inFlight = false
        }
        return AccountSnapshot(
            name: account.name.value, accountId: account.accountId.value, output: account.output.path,
            outputs: account.outputs.map(\.path), inFlight: inFlight, expiresOn: current?.expiresOn,
            lastRefresh: lastRefresh, nextAttempt: nextAttempt?.date,
            consecutiveFailures: scheduler.consecutiveFailures, lastFailure: lastFailure, keyFile: keyFile,
            lastWrite: lastWrite, lastRead: lastRead)
    }

    /// The token on disk, valid or not.
    package var tokenOnDisk: AccessToken? { current }

    // MARK: Rules

    private mutating func committed<R: RandomNumberGenerator>(
        changed: Bool, now: C.Instant, using generator: inout R
    )
        -> [Action]
    {
        guard case .writing(let token, let claims, let since, let cv, let msCV) = phase else { return [] }
        current = token
        obtained = true
        lastRefresh = now.date
        if changed { lastWrite = now.date }
        let next = scheduleAfterSuccess(
            issuedAt: claims.issuedAt ?? now.date, expiresOn: token.expiresOn, now: now, using: &generator)
        phase = .waiting
        let record = AttemptRecord(
            outcome: .refreshed(changed: changed), duration: since.duration(to: now), expiresOn: token.expiresOn,
            nextAttempt: next.date, correlationVector: cv, msCV: msCV, consecutiveFailures: 0)
        var actions: [Action] = [.record(record), .publish(snapshot())]
        if changed { actions.append(.notify(expiresOn: token.expiresOn)) }
        return actions + [.sleep(until: next)]
    }

    private mutating func failed<R: RandomNumberGenerator>(
        _ failure: AttemptFailure, since: C.Instant, now: C.Instant, using generator: inout R
    ) -> [Action] {
        lastFailure = failure
        let next = C.Instant(
            scheduler.nextAfterFailure(
                now: now.date, retryAfter: failure.error.retryAfter, currentExpiry: current?.expiresOn,
                using: &generator))
        nextAttempt = next
        phase = .waiting
        let record = AttemptRecord(
            outcome: .failed(failure), duration: since.duration(to: now), expiresOn: current?.expiresOn,
            nextAttempt: next.date, correlationVector: failure.correlationVector, msCV: failure.msCV,
            consecutiveFailures: scheduler.consecutiveFailures)
        return [.record(record), .publish(snapshot()), .sleep(until: next)]
    }

    private mutating func scheduleAfterSuccess<R: RandomNumberGenerator>(
        issuedAt: Date, expiresOn: Date, now: C.Instant, exchanged: Bool = true, using generator: inout R
    ) -> C.Instant {
        let next = C.Instant(
            scheduler.nextAfterSuccess(
                issuedAt: issuedAt, expiresOn: expiresOn, now: now.date, exchanged: exchanged, using: &generator))
        nextAttempt = next
        return next
    }

    /// Why a token found on disk at start is not adopted, or `nil` to adopt it.
    private func adoptionProblem(_ token: String, _ claims: JWTExpiry.Claims, now: Date) -> NotAdopted? {
        if let problem = TokenShape.problem(token) { return .notJWT(problem) }
        guard let aid = claims.accountId else { return .noAccountId }
        if aid.lowercased() != account.accountId.value { return .otherAccount }
        guard let issuedAt = claims.issuedAt else { return .noIssueTime }
        let lifetime = claims.expiresOn.timeIntervalSince(issuedAt)
        if abs(lifetime - Self.stsLifetime) > Self.adoptionMargin { return .lifetime(seconds: Int(lifetime)) }
        if issuedAt.timeIntervalSince(now) > Self.adoptionMargin { return .issuedInFuture }
        return nil
    }

    /// Refuses a token that must not replace the file: not a JWT of three base64url parts,
    /// expired, without an account id or for another account, expiring more than 7 days away, or
    /// expiring before a valid one this process obtained (an adopted file is no floor).
    private func check(_ token: AccessToken, now: Date) throws(SidecarError) -> JWTExpiry.Claims {
        if let problem = TokenShape.problem(token.token) {
            throw SidecarError(
                .badToken, "the STS returned a token that is not a JWT (\(problem)); the file is left as it is")
        }
        let claims: JWTExpiry.Claims
        do {
            claims = try JWTExpiry.claims(of: token.token)
        } catch {
            throw SidecarError(
                .badToken, "the STS returned a token that is not a JWT (\(error.reason)); the file is left as it is")
        }
        let expiry = TokenFileFormat.rfc3339(claims.expiresOn)
        guard claims.expiresOn > now else {
            throw SidecarError(
                .badToken, "the STS returned a token that expired at \(expiry); the file is left as it is")
        }
        // The Mixed Reality STS puts the account id in `aid` (protocol §1.5): a token without one
        // cannot be shown to be this account's, so it is not written.
        guard let aid = claims.accountId else {
            throw SidecarError(
                .badToken, "the STS returned a token without an account id (aid claim); the file is left as it is")
        }
        guard aid.lowercased() == account.accountId.value else {
            throw SidecarError(
                .badToken,
                "the STS returned a token for another account (\(LogText.bounded(aid, limit: 64))); the file is left as it is"
            )
        }
        guard claims.expiresOn.timeIntervalSince(now) <= Self.maximumLifetime else {
            throw SidecarError(
                .badToken,
                "the STS returned a token expiring at \(expiry), more than 7 days away (Mixed Reality tokens live 24 hours): a bad answer or a wrong clock; the file is left as it is"
            )
        }
        if obtained, let current, claims.expiresOn < current.expiresOn, current.expiresOn > now {
            throw SidecarError(
                .badToken,
                "the STS returned a token expiring at \(expiry), before the one on disk (\(TokenFileFormat.rfc3339(current.expiresOn))); the file is left as it is"
            )
        }
        return claims
    }
}
