public import AzureCore

/// A config file that cannot be used: every problem, each with its key path and line.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// The problems, in file order.
    public var issues: [ConfigIssue]

    public var description: String {
        let count = issues.count == 1 ? "1 problem" : "\(issues.count) problems"
        return "\(file): \(count):\n" + issues.map { "  \($0)" }.joined(separator: "\n")
    }
}

extension ConfigError: AzureError {
    /// Every problem, one per line.
    public var message: String { description }
    public var metricLabel: String { "invalid_config" }
    /// A config is refused until it is edited.
    public var isRetriable: Bool { false }
    public var cause: (any Error)? { nil }
    public static var metricLabels: [String] { ["invalid_config"] }
}

/// One problem found in a config file, with the key path and line it belongs to.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    /// The key path, such as `accounts[1].output.mode` (empty for the document).
    public var path: String
    /// The 1-based line, when known.
    public var line: Int?
    /// What is wrong and what to do.
    public var message: String

    public var description: String {
        (line.map { "line \($0): " } ?? "") + (path.isEmpty ? "" : "\(path): ") + message
    }
}
