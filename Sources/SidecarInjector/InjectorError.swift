public import AzureCore

/// The error of the webhook's own work: its addresses and its serving certificate.
///
/// Its message names the flag or file and says what to do; it never holds a key.
public struct InjectorError: AzureError {
    /// What kind of failure this is. Opaque so that codes can be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Value: String, Sendable, CaseIterable {
            case invalidArgument = "invalid_argument"
            case certificate = "certificate"
        }
        let value: Value

        /// A flag or option is not valid.
        public static let invalidArgument = Code(value: .invalidArgument)
        /// The serving certificate or key cannot be read or used.
        public static let certificate = Code(value: .certificate)

        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What failed and what to do.
    public var message: String
    /// Whether trying again later can succeed (a certificate may be fixed on disk; a flag is not).
    public var isRetriable: Bool { code == .certificate }
    /// The underlying error.
    public var cause: (any Error)?
    /// Where the error was raised.
    public var location: SourceLocation

    public var metricLabel: String { code.description }
    public static var metricLabels: [String] { Code.Value.allCases.map(\.rawValue) }

    init(_ code: Code, _ message: String, cause: (any Error)? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.cause = cause
        self.location = SourceLocation(file: file, line: line)
    }

    public var description: String { "\(code): \(message)" }
}
