import AzureCore

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// How one attempt ended.
package struct AttemptRecord: Sendable, Equatable {
    package enum Outcome: Sendable, Equatable {
        /// A valid file on disk was adopted at start; no STS call.
        case adopted
        /// A token was obtained; `changed` when it was written (it differs from the file).
        case refreshed(changed: Bool)
        /// The attempt failed; the file is as it was.
        case failed(AttemptFailure)
    }

    package var outcome: Outcome
    /// How long the exchange took (`nil` for an adoption).
    package var duration: Duration?
    /// The expiry of the token on disk after the attempt.
    package var expiresOn: Date?
    /// When the next attempt is due.
    package var nextAttempt: Date
    /// The `X-MRC-CV` and `MS-CV` of a successful exchange.
    package var correlationVector: String?
    package var msCV: String?
    /// Failures since the last success.
    package var consecutiveFailures: Int

    /// The metric and log label: `success`, `adopted`, or the error's label.
    package var result: String {
        switch outcome {
        case .adopted: "adopted"
        case .refreshed: "success"
        case .failed(let failure): failure.error.metricLabel
        }
    }
}
