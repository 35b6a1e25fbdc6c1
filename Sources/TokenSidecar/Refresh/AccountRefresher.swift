import AzureCore
import AzureIdentity
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import MixedRealityAuthentication
import Synchronization

/// What every account's refresh loop shares.
struct SidecarRuntime: Sendable {
    let sink: any TokenSink
    let board: StatusBoard
    let metrics: SidecarMetrics
    let limiter: ConcurrencyLimiter
    let notifier: Notifier
    let logger: Logger
    /// Told after each attempt, so that memory is given back once the daemon is idle.
    let trimmer: MemoryTrimmer
}

/// The outcome of one attempt.
enum AttemptOutcome: Sendable {
    case adopted(AccessToken)
    case refreshed(AccessToken)
    case failed(kind: String, message: String)
}

/// Keeps one account's token fresh on disk.
final class AccountRefresher: Sendable {
    let account: AccountConfiguration
    let runtime: SidecarRuntime
    private let client: MixedRealityStsClient
    private let keyCredential: AzureKeyCredential?
    private let stopRequested = Mutex(false)
    private let waker = Waker()
    /// Signalled when ``run()`` returns.
    let finished = Completion()
    private let state: Mutex<State>

    private struct State {
        var current: AccessToken?
        var issuedAt: Date?
        var scheduler: RefreshScheduler
        var nextAttempt: Date
    }

    init(account: AccountConfiguration, policy: RefreshPolicy, factory: CredentialFactory, runtime: SidecarRuntime) throws {
        self.account = account
        self.runtime = runtime
        (client, keyCredential) = try factory.client(for: account)
        state = Mutex(State(scheduler: RefreshScheduler(policy: policy), nextAttempt: Date()))
    }

    var name: String { account.name.value }

    private var logger: Logger {
        var logger = runtime.logger
        logger[metadataKey: SidecarLogKeys.account] = "\(name)"
        return logger
    }

    /// Removes stray temporary files and adopts a valid output file whose refresh point has not
    /// come, so a restart makes no STS call. Returns the adopted token, if any.
    @discardableResult
    func prepare() -> AccessToken? {
        runtime.board.register(name: name, accountId: account.accountId.value, output: account.output.path)
        let removed = runtime.sink.removeStaleTemporaries(for: account.output.path)
        if removed > 0 {
            logger.notice("removed temporary files left by an interrupted write", metadata: [SidecarLogKeys.count: "\(removed)"])
        }
        guard let bytes = runtime.sink.read(account.output.path),
            let token = TokenFileFormat.token(in: bytes, format: account.output.format),
            let claims = try? JWTExpiry.claims(of: token)
        else {
            runtime.board.update(name) { $0.inFlight = false }
            return nil
        }
        let now = Date()
        if let aid = claims.accountId, aid.lowercased() != account.accountId.value {
            logger.warning("the output file holds a token of another account; it will be replaced")
            runtime.board.update(name) { $0.inFlight = false }
            return nil
        }
        if Self.expiresTooLate(claims.expiresOn, now: now) {
            logger.warning("the output file holds a token expiring more than 7 days from now; it will be replaced")
            runtime.board.update(name) { $0.inFlight = false }
            return nil
        }
        guard claims.expiresOn > now else {
            runtime.board.update(name) {
                $0.inFlight = false
                $0.expiresOn = claims.expiresOn
                $0.status.expiresOn = TokenFileFormat.rfc3339(claims.expiresOn)
            }
            return nil
        }
        let accessToken = AccessToken(token: token, expiresOn: claims.expiresOn)
        let issuedAt = claims.issuedAt ?? now
        var generator = SystemRandomNumberGenerator()
        let next = state.withLock { state in
            state.current = accessToken
            state.issuedAt = issuedAt
            state.nextAttempt = state.scheduler.nextAfterSuccess(
                issuedAt: issuedAt, expiresOn: claims.expiresOn, now: now, using: &generator)
            return state.nextAttempt
        }
        let adopted = next > now
        runtime.board.update(name) {
            $0.inFlight = false
            $0.expiresOn = claims.expiresOn
            $0.status.expiresOn = TokenFileFormat.rfc3339(claims.expiresOn)
            $0.status.nextAttempt = TokenFileFormat.rfc3339(next)
        }
        runtime.metrics.token(name, expiresOn: claims.expiresOn, refreshedAt: nil)
        if adopted {
            runtime.metrics.attempt(name, result: "adopted", duration: nil)
            runtime.trimmer.noteActivity()
            logger.info(
                "adopted the valid token already on disk; no STS call",
                metadata: [SidecarLogKeys.expiresOn: "\(TokenFileFormat.rfc3339(claims.expiresOn))", SidecarLogKeys.nextAttempt: "\(TokenFileFormat.rfc3339(next))"])
            return accessToken
        }
        return nil
    }

    var nextAttempt: Date { state.withLock { $0.nextAttempt } }

    /// The loop: sleep until the next attempt (or a stop), refresh, repeat.
    func run() async {
        defer { finished.signal() }
        while !isStopping {
            let next = nextAttempt
            if next > Date() {
                _ = await waker.sleep(until: next)
                continue  // woken early, or the wall clock moved: re-check
            }
            _ = await attempt()
        }
    }

    var isStopping: Bool { stopRequested.withLock { $0 } || Task.isCancelled }

    /// Asks the loop to end after the attempt in flight, if any.
    func stop() {
        stopRequested.withLock { $0 = true }
        waker.wake()
    }

    /// One exchange: get a token, check it, write it if it changed, notify; schedule the next.
    @discardableResult
    func attempt() async -> AttemptOutcome {
        do {
            return try await runtime.limiter.withPermit { await self.exchange() }
        } catch {
            return .failed(kind: "cancelled", message: "cancelled while waiting for a free exchange slot")
        }
    }

    private func exchange() async -> AttemptOutcome {
        runtime.board.update(name) { $0.inFlight = true }
        runtime.metrics.state(name, .refreshing)
        let started = ContinuousClock.now
        var cv: String?
        var msCV: String?
        do {
            if let keyCredential, let keyFile = account.credential.keyFile {
                try keyCredential.update(try CredentialFactory.readKey(keyFile))
            }
            let response = try await client.getTokenResponse(logger: logger)
            cv = response.correlationVector
            msCV = response.msCV
            let token = response.accessToken
            let claims = try check(token)
            let now = Date()
            let changed = state.withLock { $0.current?.token != token.token }
            if changed {
                let bytes = TokenFileFormat.render(
                    token, format: account.output.format, accountId: account.accountId.value,
                    accountDomain: account.accountDomain, refreshedAt: now)
                try runtime.sink.write(
                    bytes, to: account.output.path, mode: account.output.mode.bits, owner: account.output.owner,
                    group: account.output.group)
            }
            var generator = SystemRandomNumberGenerator()
            let next = state.withLock { state in
                state.current = token
                state.issuedAt = claims.issuedAt ?? now
                state.nextAttempt = state.scheduler.nextAfterSuccess(
                    issuedAt: claims.issuedAt ?? now, expiresOn: token.expiresOn, now: now, using: &generator)
                return state.nextAttempt
            }
            let elapsed = ContinuousClock.now - started
            runtime.board.update(name) {
                $0.inFlight = false
                $0.lastAttemptFailed = false
                $0.expiresOn = token.expiresOn
                $0.status.expiresOn = TokenFileFormat.rfc3339(token.expiresOn)
                $0.status.lastRefresh = TokenFileFormat.rfc3339(now)
                $0.status.nextAttempt = TokenFileFormat.rfc3339(next)
                $0.status.consecutiveFailures = 0
            }
            runtime.metrics.attempt(name, result: "success", duration: elapsed)
            runtime.trimmer.noteActivity()
            runtime.metrics.token(name, expiresOn: token.expiresOn, refreshedAt: now)
            runtime.metrics.state(name, .fresh)
            logger.info(
                changed ? "token refreshed" : "token unchanged; file left as it is",
                metadata: [
                    SidecarLogKeys.result: "success", SidecarLogKeys.durationMs: "\(Int(elapsed.milliseconds))",
                    SidecarLogKeys.correlationVector: "\(cv ?? "")", SidecarLogKeys.msCV: "\(msCV ?? "")",
                    SidecarLogKeys.expiresOn: "\(TokenFileFormat.rfc3339(token.expiresOn))",
                    SidecarLogKeys.nextAttempt: "\(TokenFileFormat.rfc3339(next))",
                ])
            if changed { await runtime.notifier.notify(account: account, expiresOn: token.expiresOn, logger: logger) }
            return .refreshed(token)
        } catch {
            let failure = Failure(error)
            let elapsed = ContinuousClock.now - started
            let now = Date()
            var generator = SystemRandomNumberGenerator()
            let (next, failures, current) = state.withLock { state in
                state.nextAttempt = state.scheduler.nextAfterFailure(
                    now: now, retryAfter: failure.retryAfter, currentExpiry: state.current?.expiresOn, using: &generator)
                return (state.nextAttempt, state.scheduler.consecutiveFailures, state.current)
            }
            runtime.board.update(name) {
                $0.inFlight = false
                $0.lastAttemptFailed = true
                $0.status.nextAttempt = TokenFileFormat.rfc3339(next)
                $0.status.consecutiveFailures = failures
                $0.status.lastError = AccountStatus.LastError(
                    kind: failure.kind, message: failure.message, httpStatus: failure.httpStatus,
                    correlationVector: failure.correlationVector ?? cv, msCV: failure.msCV ?? msCV,
                    at: TokenFileFormat.rfc3339(now))
            }
            runtime.metrics.attempt(name, result: failure.kind, duration: elapsed)
            runtime.trimmer.noteActivity()
            let valid = current.map { $0.expiresOn > now } ?? false
            runtime.metrics.state(name, valid ? .stale : (current == nil ? .failing : .expired))
            logger.warning(
                "token refresh failed; \(valid ? "the token on disk is still valid" : "no valid token on disk")",
                metadata: [
                    SidecarLogKeys.result: "\(failure.kind)", SidecarLogKeys.error: "\(failure.message)",
                    SidecarLogKeys.httpStatus: "\(failure.httpStatus.map(String.init) ?? "")",
                    SidecarLogKeys.durationMs: "\(Int(elapsed.milliseconds))",
                    SidecarLogKeys.correlationVector: "\(failure.correlationVector ?? cv ?? "")",
                    SidecarLogKeys.msCV: "\(failure.msCV ?? msCV ?? "")",
                    SidecarLogKeys.failures: "\(failures)", SidecarLogKeys.nextAttempt: "\(TokenFileFormat.rfc3339(next))",
                ])
            return .failed(kind: failure.kind, message: failure.message)
        }
    }

    /// The furthest expiry accepted: Mixed Reality tokens live 24 hours, so a token that claims to
    /// live for years (`exp` in 9999) is a bad answer, and would stop every refresh if kept.
    static let maximumLifetime: TimeInterval = 7 * 86400

    static func expiresTooLate(_ expiresOn: Date, now: Date) -> Bool {
        expiresOn.timeIntervalSince(now) > maximumLifetime
    }

    /// Refuses a token that must not replace the file: expired, for another account, expiring
    /// more than 7 days away, or living shorter than the one on disk.
    private func check(_ token: AccessToken) throws -> JWTExpiry.Claims {
        let claims: JWTExpiry.Claims
        do {
            claims = try JWTExpiry.claims(of: token.token)
        } catch {
            throw SidecarError(.badToken, "the STS returned a token that is not a JWT (\(error.reason)); the file is left as it is")
        }
        let now = Date()
        guard claims.expiresOn > now else {
            throw SidecarError(
                .badToken, "the STS returned a token that expired at \(TokenFileFormat.rfc3339(claims.expiresOn)); the file is left as it is")
        }
        if let aid = claims.accountId, aid.lowercased() != account.accountId.value {
            throw SidecarError(.badToken, "the STS returned a token for another account (\(aid)); the file is left as it is")
        }
        guard !Self.expiresTooLate(claims.expiresOn, now: now) else {
            throw SidecarError(
                .badToken,
                "the STS returned a token expiring at \(TokenFileFormat.rfc3339(claims.expiresOn)), more than 7 days away (Mixed Reality tokens live 24 hours): a bad answer or a wrong clock; the file is left as it is"
            )
        }
        if let current = state.withLock({ $0.current }), claims.expiresOn < current.expiresOn, current.expiresOn > now {
            throw SidecarError(
                .badToken,
                "the STS returned a token expiring at \(TokenFileFormat.rfc3339(claims.expiresOn)), before the one on disk (\(TokenFileFormat.rfc3339(current.expiresOn))); the file is left as it is"
            )
        }
        return claims
    }
}

/// An error reduced to what logs, `/status` and metrics show.
struct Failure {
    var kind: String
    var message: String
    var httpStatus: Int?
    var correlationVector: String?
    var msCV: String?
    var retryAfter: Duration?

    init(_ error: any Error) {
        switch error {
        case let error as MixedRealityAuthenticationError:
            kind = error.metricLabel
            message = error.message
            httpStatus = error.httpStatus
            correlationVector = error.correlationVector
            msCV = error.msCV
            retryAfter = error.retryAfter
            if let cause = error.cause as? AzureIdentityError {
                kind = cause.code == .credentialUnavailable ? "credential_unavailable" : error.metricLabel
                message += ": \(cause)"
                retryAfter = retryAfter ?? cause.retryAfter
            } else if let wwwAuthenticate = error.wwwAuthenticate, !wwwAuthenticate.isEmpty {
                message += " (STS: \(wwwAuthenticate))"
            }
        case let error as SidecarError:
            kind = error.metricLabel
            message = error.message
        case let error as AzureCoreError:
            kind = "invalid_argument"
            message = error.message
        default:
            kind = "other"
            message = "\(error)"
        }
    }
}
