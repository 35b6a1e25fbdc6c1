/// The error thrown by the HTTP pipeline and the core credential types.
///
/// `description` says what failed and what to do; it never contains a key, token or secret.
public struct AzureCoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. Opaque so that codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String, Sendable, CaseIterable {
            case invalidArgument = "invalid_argument"
            case insecureTransport = "insecure_transport"
            case transport = "transport"
            case timeout = "timeout"
            case tls = "tls"
            case responseTooLarge = "response_too_large"
            case cancelled = "cancelled"
        }
        let value: Value

        /// An argument or option is not valid.
        public static let invalidArgument = Code(value: .invalidArgument)
        /// A credential would have been sent over plain HTTP.
        public static let insecureTransport = Code(value: .insecureTransport)
        /// The connection failed or was dropped.
        public static let transport = Code(value: .transport)
        /// No response within the per-try timeout.
        public static let timeout = Code(value: .timeout)
        /// The TLS handshake failed (untrusted, expired or wrong-host certificate) or the TLS
        /// configuration could not be built.
        public static let tls = Code(value: .tls)
        /// The response body was larger than the configured bound.
        public static let responseTooLarge = Code(value: .responseTooLarge)
        /// The task was cancelled.
        public static let cancelled = Code(value: .cancelled)

        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What failed and what to do about it.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error)?
    /// Whether trying again later can succeed.
    public var isRetriable: Bool
    /// Where the error was raised.
    public var location: SourceLocation

    /// A bounded string for metric labels: the code.
    public var metricLabel: String { code.description }

    public static var metricLabels: [String] { Code.Value.allCases.map(\.rawValue) }

    package init(
        _ code: Code,
        _ message: String,
        cause: (any Error)? = nil,
        isRetriable: Bool? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.cause = cause
        self.isRetriable = isRetriable ?? [.transport, .timeout].contains(code)
        self.location = SourceLocation(file: file, line: line)
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let cause { text += " (cause: \(String(describing: cause)))" }
        return text
    }
}

/// A place in the source, for errors.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file, as `#fileID`.
    public var file: String
    /// The line.
    public var line: Int

    /// Creates a location.
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { "\(file):\(line)" }
}

extension AzureCoreError: AzureError {}
