public import AzureCore

/// The error of the sidecar's own work (files, tokens, notifications).
///
/// Its message names the account or file and says what to do; it never contains a token.
public struct SidecarError: AzureError {
    /// What kind of failure this is. Opaque so that codes can be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String, Sendable, CaseIterable {
            case writeFailed = "write_failed"
            case badToken = "bad_token"
            case secretFile = "secret_file"
            case notifyFailed = "notify_failed"
            case configuration = "configuration"
            case cancelled = "cancelled"
        }
        let value: Value

        /// The token file could not be written (disk full, permissions, a symlink in the way).
        public static let writeFailed = Code(value: .writeFailed)
        /// The STS answered with a token that must not be written (expired, not a JWT, shorter-lived).
        public static let badToken = Code(value: .badToken)
        /// A secret file could not be read.
        public static let secretFile = Code(value: .secretFile)
        /// A notification could not be delivered.
        public static let notifyFailed = Code(value: .notifyFailed)
        /// The configuration cannot be used.
        public static let configuration = Code(value: .configuration)
        /// The attempt was cancelled (the sidecar is stopping).
        public static let cancelled = Code(value: .cancelled)

        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What failed and what to do.
    public var message: String
    /// Whether trying again later can succeed.
    public var isRetriable: Bool
    /// The underlying error.
    public var cause: (any Error)?
    /// Where the error was raised.
    public var location: SourceLocation

    /// A bounded string for metric labels: the code.
    public var metricLabel: String { code.description }

    public static var metricLabels: [String] { Code.Value.allCases.map(\.rawValue) }

    package init(
        _ code: Code, _ message: String, isRetriable: Bool = true, cause: (any Error)? = nil, file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
        self.cause = cause
        self.location = SourceLocation(file: file, line: line)
    }

    public var description: String {
        "\(code): \(message)" + (cause.map { " (cause: \($0))" } ?? "")
    }
}

extension SidecarError {
    /// `error` as it is when it is one of the project's errors (each module throws its own
    /// ``AzureError``); anything else (a cancellation, a foreign error) as the sidecar's `code`,
    /// with `error` as its cause and its text as the message unless `message` is given.
    package static func typed(
        _ error: any Error, otherwise code: Code = .configuration, _ message: String? = nil, isRetriable: Bool = false
    ) -> any AzureError {
        if let known = error as? any AzureError { return known }
        return SidecarError(code, message ?? "\(error)", isRetriable: isRetriable, cause: error)
    }
}
