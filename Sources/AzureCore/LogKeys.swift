package import Logging

/// Every logging metadata key of the project, in one place: OpenTelemetry's semantic conventions
/// where one exists (`http.*`, `url.full`, `error.*`, `file.path`), `mr.*` for our own. A key is
/// never both a value and the prefix of another (`error` next to `error.type` would break
/// Elasticsearch's mapping), and each has one type. docs/logging.md lists them; a test checks
/// that it lists exactly these.
package enum LogKeys {
    /// The JSON type of a key's values in the daemons' JSON lines.
    package enum ValueType: String, Sendable, CaseIterable {
        case string, integer, boolean
    }

    // OpenTelemetry semantic conventions.
    package static let method = "http.request.method"
    package static let url = "url.full"
    package static let status = "http.response.status_code"
    package static let attempt = "http.request.resend_count"
    package static let errorType = "error.type"
    package static let errorMessage = "error.message"
    package static let path = "file.path"

    // HTTP pipeline and credentials.
    package static let operation = "mr.operation"
    package static let requestHeaders = "mr.request_headers"
    package static let responseHeaders = "mr.response_headers"
    package static let durationMs = "mr.duration_ms"
    package static let delayMs = "mr.retry_delay_ms"
    package static let proxy = "mr.proxy"
    package static let correlationVector = "mr.cv"
    package static let msCV = "mr.ms_cv"
    package static let accountId = "mr.account_id"
    package static let credential = "mr.credential"
    package static let tenantId = "mr.tenant_id"
    package static let clientId = "mr.client_id"
    package static let entraTraceId = "mr.entra_trace_id"
    package static let entraCorrelationId = "mr.entra_correlation_id"
    package static let tokenFileChanged = "mr.token_file_changed"

    // The daemons.
    package static let account = "mr.account"
    package static let result = "mr.result"
    package static let expiresOn = "mr.expires_on"
    package static let nextAttempt = "mr.next_attempt"
    package static let failures = "mr.consecutive_failures"
    package static let count = "mr.count"
    package static let reason = "mr.reason"
    package static let config = "mr.config"
    package static let listenAddress = "mr.listen_address"
    package static let destinationChanges = "mr.destination_changes"
    package static let accountsAdded = "mr.accounts_added"
    package static let accountsRemoved = "mr.accounts_removed"
    package static let accountsChanged = "mr.accounts_changed"
    package static let accountsUnchanged = "mr.accounts_unchanged"
    package static let bytes = "mr.bytes"
    package static let version = "mr.version"
    package static let executor = "mr.executor"
    package static let memoryTuning = "mr.memory_tuning"
    package static let sidecarImage = "mr.sidecar_image"
    package static let nativeSidecar = "mr.native_sidecar"
    package static let notAfter = "mr.not_after"
    package static let pod = "mr.pod"
    package static let hop = "mr.hop"
    package static let fix = "mr.fix"
    package static let service = "mr.service"
    package static let services = "mr.services"
    package static let signal = "mr.signal"
    package static let gracefulShutdownSignals = "mr.graceful_shutdown_signals"
    package static let cancellationSignals = "mr.cancellation_signals"

    /// Every key with its type and what it holds (docs/logging.md has the same table).
    package static let all: [(key: String, type: ValueType, meaning: String)] = [
        (method, .string, "HTTP method of an outgoing request"),
        (url, .string, "URL of an outgoing request, query values redacted"),
        (status, .integer, "HTTP status of an answer"),
        (attempt, .integer, "tries before this one (0 for the first)"),
        (errorType, .string, "error code (the metric result label) or Entra's `error`"),
        (errorMessage, .string, "what went wrong, never a secret"),
        (path, .string, "a file (projected token, certificate, config)"),
        (operation, .string, "the request's purpose, such as `entra.token`"),
        (requestHeaders, .string, "request headers, sensitive values redacted"),
        (responseHeaders, .string, "response headers, sensitive values redacted"),
        (durationMs, .integer, "how long a try or a refresh took, in milliseconds"),
        (delayMs, .integer, "wait before the next try, in milliseconds"),
        (proxy, .string, "the proxy a request goes through, without credentials"),
        (correlationVector, .string, "`X-MRC-CV` sent to the STS"),
        (msCV, .string, "`MS-CV` answered by the STS"),
        (accountId, .string, "Mixed Reality account id"),
        (credential, .string, "the Entra ID credential's name"),
        (tenantId, .string, "Entra ID tenant"),
        (clientId, .string, "Entra ID client (application or managed identity)"),
        (entraTraceId, .string, "Entra's `trace_id` of a refusal"),
        (entraCorrelationId, .string, "Entra's `correlation_id` of a refusal"),
        (tokenFileChanged, .boolean, "whether the projected token file changed after `AADSTS700024`"),
        (account, .string, "the account's name in the config"),
        (result, .string, "an attempt's result (the metric label)"),
        (expiresOn, .string, "the token's expiry, RFC 3339"),
        (nextAttempt, .string, "when the next exchange is due, RFC 3339"),
        (failures, .integer, "failures in a row"),
        (count, .integer, "how many (accounts written, temporary files removed)"),
        (reason, .string, "why: a reload's trigger, a notification, a review's outcome"),
        (config, .string, "where the config comes from"),
        (listenAddress, .string, "`host:port` a server listens on"),
        (destinationChanges, .string, "what a refused reload would have changed"),
        (accountsAdded, .integer, "accounts a reload added"),
        (accountsRemoved, .integer, "accounts a reload removed"),
        (accountsChanged, .integer, "accounts a reload restarted"),
        (accountsUnchanged, .integer, "accounts a reload left running"),
        (bytes, .integer, "memory given back when idle"),
        (version, .string, "the release"),
        (
            executor, .string,
            "what runs Swift concurrency's jobs: installed (NIO's event loops), requestedDefault, unsupportedToolchain, hookTaken"
        ),
        (
            memoryTuning, .boolean,
            "whether glibc's allocator is tuned and memory given back when idle (false: MR_MEMORY_TUNING=off)"
        ),
        (sidecarImage, .string, "the image the webhook injects"),
        (nativeSidecar, .boolean, "whether the webhook injects native sidecars"),
        (notAfter, .string, "the serving certificate's expiry, RFC 3339"),
        (pod, .string, "`namespace/name` of a reviewed pod"),
        (hop, .string, "where a failure happened: config, secrets, service-account-token, network, entra, sts, output"),
        (fix, .string, "what to do about a failure"),
        (service, .string, "a service of the process (swift-service-lifecycle)"),
        (services, .string, "the services of the process"),
        (signal, .string, "the signal received"),
        (gracefulShutdownSignals, .string, "signals that shut the process down gracefully"),
        (cancellationSignals, .string, "signals that cancel the process"),
    ]
}

extension Logger.MetadataValue {
    /// An integer, written as a JSON number by the daemons' log handler.
    package static func integer(_ value: some BinaryInteger) -> Logger.MetadataValue {
        .stringConvertible(Int64(clamping: value))
    }

    /// A Boolean, written as a JSON Boolean by the daemons' log handler.
    package static func boolean(_ value: Bool) -> Logger.MetadataValue {
        .stringConvertible(value)
    }
}
