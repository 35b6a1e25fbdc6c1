package import AzureCore
import AzureIdentity
import MixedRealityAuthentication

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// One account as its state machine last published it: what `/status`, `/readyz` and the
/// metrics show. Dates are dates; the probe server formats them.
package struct AccountSnapshot: Sendable, Equatable {
    /// The account's name in the config.
    package var name: String
    /// The account id.
    package var accountId: String
    /// The output file (the first of them).
    package var output: String
    /// Every output file.
    package var outputs: [String] = []
    /// Whether an exchange is in flight (or the account is starting).
    package var inFlight: Bool
    /// The expiry of the token on disk, if there is one.
    package var expiresOn: Date?
    /// When the last token was obtained.
    package var lastRefresh: Date?
    /// When the next attempt is due.
    package var nextAttempt: Date?
    /// Failures since the last success (0: the last attempt succeeded).
    package var consecutiveFailures: Int
    /// The last failure, kept after a success as the account's latest trouble.
    package var lastFailure: AttemptFailure?
    /// The account key file the STS accepted last (account keys).
    package var keyFile: KeyFileInUse?
    /// When this process last wrote a new token of the account.
    package var lastWrite: Date?
    /// When another process last opened a token file of the account (the read tracker).
    package var lastRead: Date?

    /// Whether the token written last has been opened by the application since (`nil`: nothing
    /// known).
    package var readSinceWrite: Bool? {
        guard let lastWrite else { return lastRead.map { _ in true } }
        return (lastRead ?? .distantPast) >= lastWrite
    }

    /// The state at `now`: it moves from `fresh` or `stale` to `expired` as time passes, with no
    /// event.
    package func state(at now: Date) -> AccountState {
        if inFlight { return .refreshing }
        guard let expiresOn else { return .failing }
        guard expiresOn > now else { return .expired }
        return consecutiveFailures == 0 ? .fresh : .stale
    }
}

/// The states of an account, as `/status` and `mr_token_state` name them.
package enum AccountState: String, Sendable, CaseIterable {
    /// A valid token is on disk and the last attempt (if any) succeeded.
    case fresh
    /// An exchange is in flight.
    case refreshing
    /// The last attempt failed; the token on disk is still valid.
    case stale
    /// The token on disk has expired.
    case expired
    /// There is no token yet and the last attempt failed.
    case failing
}

/// A failed attempt: the error, when, and the ids that correlate it with the service.
package struct AttemptFailure: Sendable {
    /// The error (never a string: its label, message and retry advice travel with it).
    package var error: any AzureError
    /// When it failed.
    package var at: Date
    /// The `X-MRC-CV` sent, if the STS was called.
    package var correlationVector: String?
    /// The `MS-CV` the STS answered with.
    package var msCV: String?

    /// The HTTP status of the answer that failed, if a server answered.
    package var httpStatus: Int? {
        if let error = error as? MixedRealityAuthenticationError {
            return error.httpStatus ?? (error.cause as? AzureIdentityError)?.httpStatus
        }
        return (error as? AzureIdentityError)?.httpStatus
    }

    /// The message for logs and `/status`: the error's, with what the STS or the credential said.
    package var message: String {
        guard let error = error as? MixedRealityAuthenticationError else { return error.message }
        if let cause = error.cause as? AzureIdentityError { return error.message + ": \(cause)" }
        if let reason = error.wwwAuthenticate, !reason.isEmpty { return error.message + " (STS: \(reason))" }
        return error.message
    }

    package init(error: any AzureError, at: Date, correlationVector: String? = nil, msCV: String? = nil) {
        self.error = error
        self.at = at
        let stsError = error as? MixedRealityAuthenticationError
        self.correlationVector = stsError?.correlationVector ?? correlationVector
        self.msCV = stsError?.msCV ?? msCV
    }
}

extension AttemptFailure: Equatable {
    /// The same failure: errors of one type with the same label, message and advice, at the same
    /// time, with the same correlation ids (an error is no value; what it says is compared).
    package static func == (lhs: AttemptFailure, rhs: AttemptFailure) -> Bool {
        ObjectIdentifier(type(of: lhs.error)) == ObjectIdentifier(type(of: rhs.error))
            && lhs.error.metricLabel == rhs.error.metricLabel && lhs.error.message == rhs.error.message
            && lhs.error.isRetriable == rhs.error.isRetriable && lhs.error.retryAfter == rhs.error.retryAfter
            && lhs.at == rhs.at && lhs.correlationVector == rhs.correlationVector && lhs.msCV == rhs.msCV
    }
}
