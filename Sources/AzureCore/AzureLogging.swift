public import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Logging conventions shared with the Azure SDKs.
public enum AzureLogging: Sendable {
    /// A logger that drops everything; the default where a caller passes none.
    public static let disabledLogger = Logger(label: "azure.disabled", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The level named by `AZURE_LOG_LEVEL` (`verbose`, `info`, `warning`, `error`), as in the
    /// Azure SDKs; `nil` when the variable is unset or holds something else.
    /// - Parameter environment: The environment to read (`nil`: the process's).
    public static func levelFromEnvironment(_ environment: [String: String]? = nil) -> Logger.Level? {
        switch (environment ?? ProcessInfo.processInfo.environment)["AZURE_LOG_LEVEL"]?.lowercased() {
        case "verbose": .debug
        case "info": .info
        case "warning": .warning
        case "error": .error
        default: nil
        }
    }
}
