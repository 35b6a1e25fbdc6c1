/// The logging metadata keys of the sidecar, in one place.
enum SidecarLogKeys {
    static let account = "mr.account"
    static let result = "mr.result"
    static let durationMs = "mr.duration_ms"
    static let correlationVector = "mr.cv"
    static let msCV = "mr.ms_cv"
    static let expiresOn = "mr.expires_on"
    static let nextAttempt = "mr.next_attempt"
    static let error = "error"
    static let httpStatus = "http.response.status_code"
    static let failures = "mr.consecutive_failures"
    static let count = "count"
    static let reason = "reason"
}
