import AzureCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The log line of one attempt: one per refresh, adoption or failure, with the account, result,
/// duration, correlation ids and the next attempt; never a token or a secret.
struct AttemptLog {
    let record: AttemptRecord
    let logger: Logger

    func emit() {
        var metadata: Logger.Metadata = [
            LogKeys.result: "\(record.result)",
            LogKeys.nextAttempt: "\(TokenFileFormat.rfc3339(record.nextAttempt))",
        ]
        if let duration = record.duration {
            metadata[LogKeys.durationMs] = .integer(Int(max(0, duration.milliseconds)))
        }
        switch record.outcome {
        case .adopted:
            metadata[LogKeys.expiresOn] = record.expiresOn.map { .string(TokenFileFormat.rfc3339($0)) }
            metadata[LogKeys.result] = nil
            logger.info("adopted the valid token already on disk; no STS call", metadata: metadata)
        case .refreshed(let changed):
            metadata[LogKeys.correlationVector] = record.correlationVector.map { .string($0) }
            metadata[LogKeys.msCV] = record.msCV.map { .string($0) }
            metadata[LogKeys.expiresOn] = record.expiresOn.map { .string(TokenFileFormat.rfc3339($0)) }
            logger.info(changed ? "token refreshed" : "token unchanged; file left as it is", metadata: metadata)
        case .failed(let failure):
            let valid = record.expiresOn.map { $0 > failure.at } ?? false
            metadata[LogKeys.errorMessage] = "\(failure.message)"
            metadata[LogKeys.errorType] = "\(failure.error.metricLabel)"
            metadata[LogKeys.status] = failure.httpStatus.map { .integer($0) }
            metadata[LogKeys.correlationVector] = failure.correlationVector.map { .string($0) }
            metadata[LogKeys.msCV] = failure.msCV.map { .string($0) }
            metadata[LogKeys.failures] = .integer(record.consecutiveFailures)
            logger.warning(
                "token refresh failed; \(valid ? "the token on disk is still valid" : "no valid token on disk")",
                metadata: metadata)
        }
    }
}
