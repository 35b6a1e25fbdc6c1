import AzureCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The log line of one attempt: one per refresh, adoption or failure, with the account, result,
/// duration, correlation ids and the next attempt; never a token or a secret.
struct AttemptLog<C: WallClock> {
    let record: AccountStateMachine<C>.AttemptRecord
    let logger: Logger

    func emit() {
        var metadata: Logger.Metadata = [
            SidecarLogKeys.result: "\(record.result)",
            SidecarLogKeys.nextAttempt: "\(TokenFileFormat.rfc3339(record.nextAttempt))",
        ]
        if let duration = record.duration {
            metadata[SidecarLogKeys.durationMs] = "\(Int(max(0, duration.milliseconds)))"
        }
        switch record.outcome {
        case .adopted:
            metadata[SidecarLogKeys.expiresOn] = "\(record.expiresOn.map(TokenFileFormat.rfc3339) ?? "")"
            metadata[SidecarLogKeys.result] = nil
            logger.info("adopted the valid token already on disk; no STS call", metadata: metadata)
        case .refreshed(let changed):
            metadata[SidecarLogKeys.correlationVector] = "\(record.correlationVector ?? "")"
            metadata[SidecarLogKeys.msCV] = "\(record.msCV ?? "")"
            metadata[SidecarLogKeys.expiresOn] = "\(record.expiresOn.map(TokenFileFormat.rfc3339) ?? "")"
            logger.info(changed ? "token refreshed" : "token unchanged; file left as it is", metadata: metadata)
        case .failed(let failure):
            let valid = record.expiresOn.map { $0 > failure.at } ?? false
            metadata[SidecarLogKeys.error] = "\(failure.message)"
            metadata[SidecarLogKeys.httpStatus] = "\(failure.httpStatus.map(String.init) ?? "")"
            metadata[SidecarLogKeys.correlationVector] = "\(failure.correlationVector ?? "")"
            metadata[SidecarLogKeys.msCV] = "\(failure.msCV ?? "")"
            metadata[SidecarLogKeys.failures] = "\(record.consecutiveFailures)"
            logger.warning(
                "token refresh failed; \(valid ? "the token on disk is still valid" : "no valid token on disk")",
                metadata: metadata)
        }
    }
}
