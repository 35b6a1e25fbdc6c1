import AzureCore
package import Logging
import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The level of every logger of the process, changed in place on config reload.
package final class LogLevelBox: Sendable {
    private let level: Mutex<Logger.Level>
    package init(_ level: Logger.Level) { self.level = Mutex(level) }
    package var value: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// Writes log lines to standard error: one JSON object per line (`json`) or readable text.
package struct DaemonLogHandler: LogHandler {
    package enum Format: Sendable { case json, text }

    /// A logger writing through this handler at a level shared by every logger it makes.
    /// - Parameters:
    ///   - label: The logger's label.
    ///   - level: The starting level.
    ///   - format: JSON lines or text.
    /// - Returns: The logger and the box that changes its level in place.
    package static func logger(label: String, level: Logger.Level, format: Format) -> (Logger, LogLevelBox) {
        let box = LogLevelBox(level)
        let logger = Logger(
            label: label, factory: { label in DaemonLogHandler(label: label, format: format, level: box) })
        return (logger, box)
    }

    private static let lock = Mutex(())
    let label: String
    let format: Format
    let levelBox: LogLevelBox
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?

    package init(label: String, format: Format, level: LogLevelBox) {
        self.label = label
        self.format = format
        self.levelBox = level
    }

    /// A level set on this logger alone (a copy with `logLevel` changed); otherwise the shared one.
    private var levelOverride: Logger.Level?

    package var logLevel: Logger.Level {
        get { levelOverride ?? levelBox.value }
        set { levelOverride = newValue }
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all[LogKeys.errorMessage] = "\(error)" }
        let text = Self.line(
            format: format, time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: all)
        Self.lock.withLock { _ in StandardStreams.error(text) }
    }

    /// One log line, newline included: a JSON object, or text whose control characters are
    /// escaped (a value from outside, a server's answer or a pod's annotation, can neither forge
    /// a line nor send terminal escapes). The time has milliseconds; integers and Booleans made
    /// with `.integer` and `.boolean` are JSON numbers and Booleans; keys whose value is empty are
    /// left out.
    package static func line(
        format: Format, time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata
    ) -> String {
        let timestamp = Self.timestamp(time)
        let present = metadata.sorted { $0.key < $1.key }.filter { !Self.flatten($0.value).isEmpty }
        switch format {
        case .json:
            var fields: [String] = [
                "\"time\":\(Self.quote(timestamp))", "\"level\":\(Self.quote(level.rawValue))",
                "\"logger\":\(Self.quote(label))", "\"msg\":\(Self.quote(message))",
            ]
            fields += present.map { "\(Self.quote($0.key)):\(Self.json($0.value))" }
            return "{" + fields.joined(separator: ",") + "}\n"
        case .text:
            let details =
                present
                .map { "\(LogText.escaped($0.key))=\(LogText.escaped(Self.flatten($0.value)))" }
                .joined(separator: " ")
            return "\(timestamp) \(level.rawValue.uppercased()) \(LogText.escaped(message))"
                + "\(details.isEmpty ? "" : " " + details)\n"
        }
    }

    /// `2026-11-30T14:25:17.123Z`: UTC, milliseconds.
    package static func timestamp(_ time: Date) -> String {
        let milliseconds = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient)
        let fraction = Int(((milliseconds % 1000) + 1000) % 1000)
        if milliseconds < 0 && fraction != 0 { seconds -= 1 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 3))Z"
    }

    /// A metadata value as JSON: integers, finite doubles and Booleans as such, the rest as strings.
    static func json(_ value: Logger.Metadata.Value) -> String {
        if case .stringConvertible(let convertible) = value {
            switch convertible {
            case let number as Int64: return String(number)
            case let number as Int: return String(number)
            case let flag as Bool: return flag ? "true" : "false"
            case let number as Double where number.isFinite: return String(number)
            default: break
            }
        }
        return quote(flatten(value))
    }

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.sorted { $0.key < $1.key }.map { "\($0.key)=\(flatten($0.value))" }.joined(separator: ",")
                + "}"
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
