#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import Logging
import Synchronization

/// The level of every logger of the process, changed in place on config reload.
public final class LogLevelBox: Sendable {
    private let level: Mutex<Logger.Level>
    public init(_ level: Logger.Level) { self.level = Mutex(level) }
    public var value: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// Writes log lines to standard error: one JSON object per line (`json`) or readable text.
public struct SidecarLogHandler: LogHandler {
    public enum Format: Sendable { case json, text }

    private static let lock = Mutex(())
    let label: String
    let format: Format
    let levelBox: LogLevelBox
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, format: Format, level: LogLevelBox) {
        self.label = label
        self.format = format
        self.levelBox = level
    }

    /// A level set on this logger alone (a copy with `logLevel` changed); otherwise the shared one.
    private var levelOverride: Logger.Level?

    public var logLevel: Logger.Level {
        get { levelOverride ?? levelBox.value }
        set { levelOverride = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level
        let message = event.message
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all["error"] = "\(error)" }
        let time = Date().formatted(.iso8601)
        let text: String
        switch format {
        case .json:
            var fields: [(String, String)] = [("time", time), ("level", level.rawValue), ("logger", label), ("msg", "\(message)")]
            fields += all.sorted { $0.key < $1.key }.map { ($0.key, Self.flatten($0.value)) }
            text = "{" + fields.map { "\(Self.quote($0.0)):\(Self.quote($0.1))" }.joined(separator: ",") + "}\n"
        case .text:
            let details = all.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.flatten($0.value))" }.joined(separator: " ")
            text = "\(time) \(level.rawValue.uppercased()) \(message)\(details.isEmpty ? "" : " " + details)\n"
        }
        Self.lock.withLock { _ in FileHandleWriter.standardError(text) }
    }

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let values): "{" + values.sorted { $0.key < $1.key }.map { "\($0.key)=\(flatten($0.value))" }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
