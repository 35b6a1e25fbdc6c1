#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Text that came from outside (a config value, an annotation, a server's answer) made safe to
/// show in a message or a log line: control and format characters escaped (`\n`, `\u{1B}`), and
/// cut to a bounded length with an ellipsis.
package enum LogText {
    /// The escaped text, at most `limit` characters of it.
    package static func bounded(_ text: some StringProtocol, limit: Int = 120) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                result += "…"
                break
            }
            count += 1
            result += escaped(scalar)
        }
        return result
    }

    /// A bounded list: the first `limit` items, each bounded and escaped, and how many more.
    package static func list(_ items: [String], limit: Int = 5) -> String {
        let shown = items.prefix(limit).map { bounded($0, limit: 63) }.joined(separator: ", ")
        return items.count > limit ? shown + " and \(items.count - limit) more" : shown
    }

    /// The text with every control or format character escaped, whatever its length.
    package static func escaped(_ text: some StringProtocol) -> String {
        var result = ""
        for scalar in text.unicodeScalars { result += escaped(scalar) }
        return result
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\\": return "\\\\"
        default:
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
                return "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default:
                return String(scalar)
            }
        }
    }
}
