/// The logging metadata keys of the sidecar, in one place.
package enum SidecarLogKeys {
    package static let account = "mr.account"
    package static let result = "mr.result"
    package static let durationMs = "mr.duration_ms"
    package static let correlationVector = "mr.cv"
    package static let msCV = "mr.ms_cv"
    package static let expiresOn = "mr.expires_on"
    package static let nextAttempt = "mr.next_attempt"
    package static let error = "error"
    package static let httpStatus = "http.response.status_code"
    package static let failures = "mr.consecutive_failures"
    package static let count = "count"
    package static let reason = "reason"
}
