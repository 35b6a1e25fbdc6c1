public import AzureCore

/// The one error type of the Entra ID credentials.
///
/// It carries what Entra said (`error`, the AADSTS codes, `trace_id`, `correlation_id`) and
/// whether a retry can help; its description never contains a secret, an assertion or a token.
public struct AzureIdentityError: AzureError {
    /// What kind of failure this is. Opaque so that codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String, Sendable, CaseIterable {
            case credentialUnavailable = "credential_unavailable"
            case authenticationFailed = "authentication_failed"
            case invalidArgument = "invalid_argument"
            case badResponse = "bad_response"
            case transport = "transport"
        }
        let value: Value

        /// The credential cannot be used here: its configuration (environment variables, files)
        /// is missing, or its endpoint is not there. A chain moves on to the next credential.
        public static let credentialUnavailable = Code(value: .credentialUnavailable)
        /// Entra ID (or the managed identity endpoint) refused the request.
        public static let authenticationFailed = Code(value: .authenticationFailed)
        /// An argument or option is invalid.
        public static let invalidArgument = Code(value: .invalidArgument)
        /// The answer could not be understood.
        public static let badResponse = Code(value: .badResponse)
        /// No answer: connection, TLS, timeout.
        public static let transport = Code(value: .transport)

        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// The credential that failed, such as `WorkloadIdentityCredential`.
    public var credential: String
    /// What failed and what to do.
    public var message: String
    /// The HTTP status, when a server answered.
    public var httpStatus: Int?
    /// Entra's `error` field, such as `invalid_client`.
    public var entraError: String?
    /// The AADSTS codes Entra returned.
    public var aadstsCodes: [Int]
    /// Entra's `trace_id`.
    public var traceId: String?
    /// Entra's `correlation_id` (the `client-request-id` sent).
    public var correlationId: String?
    /// The wait the server asked for, if any.
    public var retryAfter: Duration?
    /// Whether trying again later can succeed.
    public var isRetriable: Bool
    /// The underlying error.
    public var cause: (any Error)?
    /// Where the error was raised.
    public var location: SourceLocation

    /// A bounded string for metric labels: the code.
    public var metricLabel: String { code.description }

    public static var metricLabels: [String] { Code.Value.allCases.map(\.rawValue) }

    init(
        _ code: Code,
        credential: String,
        _ message: String,
        httpStatus: Int? = nil,
        entraError: String? = nil,
        aadstsCodes: [Int] = [],
        traceId: String? = nil,
        correlationId: String? = nil,
        retryAfter: Duration? = nil,
        isRetriable: Bool = false,
        cause: (any Error)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.credential = credential
        self.message = message
        self.httpStatus = httpStatus
        self.entraError = entraError
        self.aadstsCodes = aadstsCodes
        self.traceId = traceId
        self.correlationId = correlationId
        self.retryAfter = retryAfter
        self.isRetriable = isRetriable
        self.cause = cause
        self.location = SourceLocation(file: file, line: line)
    }

    public var description: String {
        var text = "\(credential): \(code): \(message)"
        var details: [String] = []
        if let httpStatus { details.append("status \(httpStatus)") }
        if let entraError { details.append("error \(entraError)") }
        if !aadstsCodes.isEmpty { details.append(aadstsCodes.map { "AADSTS\($0)" }.joined(separator: ",")) }
        if let traceId { details.append("trace_id \(traceId)") }
        if let correlationId { details.append("correlation_id \(correlationId)") }
        if !details.isEmpty { text += " [\(details.joined(separator: " "))]" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }

    static func unavailable(
        _ credential: String, _ message: String, isRetriable: Bool = false, cause: (any Error)? = nil
    )
        -> AzureIdentityError
    {
        AzureIdentityError(
            .credentialUnavailable, credential: credential, message, isRetriable: isRetriable, cause: cause)
    }
}
