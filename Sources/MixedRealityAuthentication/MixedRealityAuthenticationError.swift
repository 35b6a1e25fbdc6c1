public import AzureCore

/// The one error type of `MixedRealityStsClient`.
///
/// Its description says what failed, which call (`X-MRC-CV`, `MS-CV`) and what to do; it never
/// contains the account key, an Entra token or a Mixed Reality token.
public struct MixedRealityAuthenticationError: AzureError {
    /// What kind of failure this is. Opaque so that codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String, Sendable, CaseIterable {
            case invalidArgument = "invalid_argument"
            case authenticationFailed = "authentication_failed"
            case throttled = "throttled"
            case serviceError = "service_error"
            case badResponse = "bad_response"
            case transport = "transport"
        }
        let value: Value

        /// An argument given to the client is not valid.
        public static let invalidArgument = Code(value: .invalidArgument)
        /// The STS refused the credential (401, 403), or no Entra token could be obtained.
        public static let authenticationFailed = Code(value: .authenticationFailed)
        /// The STS answered 429 after the pipeline's retries.
        public static let throttled = Code(value: .throttled)
        /// Any other non-200 status.
        public static let serviceError = Code(value: .serviceError)
        /// A 200 whose body is not `{"AccessToken": "<JWT>"}` with a usable `exp`.
        public static let badResponse = Code(value: .badResponse)
        /// No answer: connection, TLS, timeout, body too large or plain HTTP refused.
        public static let transport = Code(value: .transport)

        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What failed and what to do.
    public var message: String
    /// The HTTP status, when the STS answered.
    public var httpStatus: Int?
    /// The `X-MRC-CV` this client sent.
    public var correlationVector: String?
    /// The `MS-CV` the STS answered with.
    public var msCV: String?
    /// The `WWW-Authenticate` text of the answer (the STS's reason).
    public var wwwAuthenticate: String?
    /// The wait the STS asked for (`Retry-After` and variants).
    public var retryAfter: Duration?
    /// Whether trying again later can succeed.
    public var isRetriable: Bool
    /// The underlying error (an ``AzureCoreError`` or the credential's error).
    public var cause: (any Error)?
    /// Where the error was raised.
    public var location: SourceLocation

    /// A bounded string for metric labels: the code, or, when the Entra ID credential failed
    /// before the STS was called, that credential's own label (`credential_unavailable`...).
    public var metricLabel: String {
        if code == .authenticationFailed, httpStatus == nil, let credentialError = cause as? any AzureError {
            return credentialError.metricLabel
        }
        return code.description
    }

    public static var metricLabels: [String] { Code.Value.allCases.map(\.rawValue) }

    package init(
        _ code: Code,
        _ message: String,
        httpStatus: Int? = nil,
        correlationVector: String? = nil,
        msCV: String? = nil,
        wwwAuthenticate: String? = nil,
        retryAfter: Duration? = nil,
        isRetriable: Bool = false,
        cause: (any Error)? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.correlationVector = correlationVector
        self.msCV = msCV
        self.wwwAuthenticate = wwwAuthenticate
        self.retryAfter = retryAfter
        self.isRetriable = isRetriable
        self.cause = cause
        self.location = SourceLocation(file: file, line: line)
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let httpStatus { text += " [status \(httpStatus)" } else { text += " [" }
        if let correlationVector { text += " X-MRC-CV \(correlationVector)" }
        if let msCV { text += " MS-CV \(msCV)" }
        text += "]"
        if let wwwAuthenticate, !wwwAuthenticate.isEmpty { text += " server said: \(wwwAuthenticate)" }
        if let cause { text += " (cause: \(cause))" }
        return text
    }
}
