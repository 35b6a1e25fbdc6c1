import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads, decodes and validates the config file.
public enum ConfigLoader: Sendable {
    static let maxBytes = 4 << 20

    /// When set, replaces `server.address` (the injector sets it so that the probes it adds find
    /// the server whatever the pod's ConfigMap says).
    public static let serverAddressVariable = "MR_TOKEN_SIDECAR_SERVER_ADDRESS"

    /// When set, replace `log.level` and `log.format` (the injector sets the level from the
    /// chart's `sidecar.logLevel`).
    public static let logLevelVariable = "MR_TOKEN_SIDECAR_LOG_LEVEL"
    public static let logFormatVariable = "MR_TOKEN_SIDECAR_LOG_FORMAT"

    /// When set, the credential types (comma-separated) the accounts may use: the injector sets it
    /// from the chart's `policy.allowedCredentials`, which a ConfigMap edit cannot change.
    public static let allowedCredentialsVariable = "MR_TOKEN_SIDECAR_ALLOWED_CREDENTIALS"

    /// Loads a config file.
    /// - Parameters:
    ///   - path: The file.
    ///   - environment: Where `AZURE_*` defaults and `MR_TOKEN_SIDECAR_*` settings come from.
    ///   - flags: The operator's flags (`--allowed-hosts`, `--ca-file`, `--allowed-scopes`), on top
    ///     of their `MR_TOKEN_SIDECAR_*` variables.
    /// - Throws: ``ConfigError`` listing every problem.
    public static func load(
        path: String, environment: [String: String], flags: OperatorPolicy.Flags = .init()
    ) throws(ConfigError) -> SidecarConfiguration {
        let data: [UInt8]
        switch FileStatus.read(path, maxBytes: maxBytes) {
        case .success(let content): data = content
        case .failure(let failure):
            let message =
                switch failure {
                case .tooLarge: "larger than 4 MiB"
                case .directory: "a directory, not a file: point at the file inside it"
                case .notRegular: "not a regular file (a FIFO, a device or a socket): point at a file"
                default: "cannot read the file: check the path and that it is mounted"
                }
            throw ConfigError(file: path, issues: [ConfigIssue(path: "", line: nil, message: message)])
        }
        return try parse(
            String(decoding: data, as: UTF8.self), file: path, environment: environment, flags: flags)
    }

    /// Parses config text.
    /// - Parameters:
    ///   - text: The YAML.
    ///   - file: Where it came from, for messages.
    ///   - environment: Where `AZURE_*` defaults and `MR_TOKEN_SIDECAR_*` settings come from.
    ///   - flags: The operator's flags (`--allowed-hosts`, `--ca-file`, `--allowed-scopes`).
    /// - Throws: ``ConfigError`` listing every problem.
    public static func parse(
        _ text: String, file: String, environment: [String: String], flags: OperatorPolicy.Flags = .init()
    ) throws(ConfigError)
        -> SidecarConfiguration
    {
        let policy: OperatorPolicy
        do {
            policy = try OperatorPolicy(flags: flags, environment: environment)
        } catch {
            throw ConfigError(file: file, issues: [ConfigIssue(path: "", line: nil, message: error.message)])
        }
        let root: YAMLNode
        do {
            guard let node = try YAMLParser.parse(text) else {
                throw ConfigError(
                    file: file,
                    issues: [
                        ConfigIssue(
                            path: "", line: 1, message: "the file is empty: give at least one account under accounts:")
                    ])
            }
            root = node
        } catch let error as YAMLSyntaxError {
            throw ConfigError(
                file: file, issues: [ConfigIssue(path: "", line: error.line, message: "YAML syntax: \(error.message)")])
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: file, issues: [ConfigIssue(path: "", line: nil, message: "\(error)")])
        }
        let decoding = YAMLDecoding()
        guard var configuration = decoding.decode(SidecarConfiguration.self, from: root) else {
            throw ConfigError(file: file, issues: sorted(decoding.issues))
        }
        configuration.operatorPolicy = policy
        if let address = environment[serverAddressVariable] {
            let override = ServerConfiguration(address: address)
            guard address.isEmpty || (override.hostAndPort.map { (0...65535).contains($0.port) } ?? false) else {
                throw ConfigError(
                    file: file,
                    issues: [
                        ConfigIssue(
                            path: "", line: nil,
                            message:
                                "the environment variable \(serverAddressVariable)=\"\(LogText.bounded(address, limit: 80))\" must be host:port, such as 0.0.0.0:8787"
                        )
                    ])
            }
            configuration.server.address = address
        }
        func word<W: ConfigWord>(_ variable: String, _: W.Type) throws(ConfigError) -> W? {
            guard let text = environment[variable]?.trimmed, !text.isEmpty else { return nil }
            guard let value = W(rawValue: text) else {
                throw ConfigError(
                    file: file,
                    issues: [
                        ConfigIssue(
                            path: "", line: nil,
                            message:
                                "the environment variable \(variable)=\"\(LogText.bounded(text, limit: 40))\" is not one of \(W.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                    ])
            }
            return value
        }
        if let level = try word(logLevelVariable, LogConfiguration.Level.self) { configuration.log.level = level }
        if let format = try word(logFormatVariable, LogConfiguration.Format.self) { configuration.log.format = format }
        // Validate even when decoding found problems (placeholders stand in for the bad values),
        // leaving out what concerns a value already reported, so every problem shows at once.
        var validator = ConfigValidator(lines: decoding.lines, environment: environment, policy: policy)
        let reported = decoding.issues.map(\.path)
        let more = validator.validate(configuration).filter { issue in
            !reported.contains { issue.path == $0 || issue.path.hasPrefix($0 + ".") || issue.path.hasPrefix($0 + "[") }
        }
        let issues = decoding.issues + more
        guard issues.isEmpty else { throw ConfigError(file: file, issues: sorted(issues)) }
        return configuration
    }

    static func sorted(_ issues: [ConfigIssue]) -> [ConfigIssue] {
        issues.enumerated().sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }.map(
            \.element)
    }
}
