import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A duration written with a unit: `500ms`, `30s`, `5m`, `1h`, or combined, `1m30s`.
public struct ConfigDuration: Decodable, Sendable, Hashable, ConfigPlaceholder, CustomStringConvertible {
    /// The duration.
    public var duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    static var placeholder: ConfigDuration { ConfigDuration(.zero) }

    public init(from decoder: any Decoder) throws {
        let scalar = try ConfigScalar(from: decoder)
        self.duration = try Self.parse(scalar.text)
    }

    package static func parse(_ text: String) throws(ConfigValueError) -> Duration {
        let units: [(String, Int64)] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        var rest = Substring(text.trimmed)
        guard !rest.isEmpty else { throw ConfigValueError("is empty: write a duration such as 30s or 5m") }
        if Double(rest) != nil {
            throw ConfigValueError("\(text) needs a unit: write \(text)s, \(text)m or \(text)ms")
        }
        var millis: Int64 = 0
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isNumber })
            guard !digits.isEmpty, let value = Int64(digits), value < 10_000_000 else {
                throw ConfigValueError(
                    "\"\(text)\" is not a duration: write a number and a unit (ms, s, m, h), such as 30s")
            }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) }) else {
                throw ConfigValueError("\"\(text)\" has no known unit: use ms, s, m or h, such as 30s")
            }
            rest = rest.dropFirst(unit.0.count)
            millis += value * unit.1
        }
        return .milliseconds(millis)
    }

    public var description: String {
        let millis = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if millis % 3_600_000 == 0 && millis > 0 { return "\(millis / 3_600_000)h" }
        if millis % 60_000 == 0 && millis > 0 { return "\(millis / 60_000)m" }
        if millis % 1000 == 0 { return "\(millis / 1000)s" }
        return "\(millis)ms"
    }
}

/// A file mode written as a quoted octal string such as `"0440"`. A number is refused: YAML reads
/// `0440` as 288 in some parsers and 440 in others (the mode bugs of other tools).
public struct FileMode: Decodable, Sendable, Hashable, ConfigPlaceholder, CustomStringConvertible {
    /// The permission bits.
    public var bits: UInt16

    public init(bits: UInt16) { self.bits = bits }

    static var placeholder: FileMode { FileMode(bits: 0o440) }

    public init(from decoder: any Decoder) throws {
        let scalar = try ConfigScalar(from: decoder)
        guard scalar.quoted else {
            throw ConfigValueError("\(scalar.text) is a number: write the mode as an octal string like \"0440\"")
        }
        let text = scalar.text
        guard text.count == 4, text.first == "0", let bits = UInt16(text.dropFirst(), radix: 8) else {
            throw ConfigValueError("\"\(text)\" must be an octal string like \"0440\"")
        }
        self.bits = bits
    }

    public var description: String {
        let octal = String(bits, radix: 8)
        return String(repeating: "0", count: max(0, 4 - octal.count)) + octal
    }
}

/// An account name: lowercase letters, digits and `-`, used in file-safe places, logs and
/// metric labels.
public struct AccountName: Decodable, Sendable, Hashable, Comparable, ConfigPlaceholder, CustomStringConvertible {
    public var value: String

    public init(_ value: String) throws {
        guard !value.isEmpty, value.count <= 63,
            value.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }),
            value.first != "-", value.last != "-"
        else {
            throw ConfigValueError(
                "\"\(LogText.bounded(value, limit: 80))\" is not a valid name: use 1 to 63 lowercase letters, digits and '-', such as anchors-prod"
            )
        }
        self.value = value
    }

    static var placeholder: AccountName { AccountName(unchecked: "invalid") }
    init(unchecked value: String) { self.value = value }

    public init(from decoder: any Decoder) throws {
        try self.init(try ConfigScalar(from: decoder).text)
    }

    public var description: String { value }
    public static func < (lhs: AccountName, rhs: AccountName) -> Bool { lhs.value < rhs.value }
}

/// An account id: a UUID, kept lowercase.
public struct AccountIdentifier: Decodable, Sendable, Hashable, ConfigPlaceholder, CustomStringConvertible {
    public var value: String

    static var placeholder: AccountIdentifier { AccountIdentifier(value: "00000000-0000-0000-0000-000000000000") }
    init(value: String) { self.value = value }

    public init(from decoder: any Decoder) throws {
        let text = try ConfigScalar(from: decoder).text
        guard let normalized = AccountIdRule.normalized(text) else {
            throw ConfigValueError("\"\(LogText.bounded(text, limit: 80))\" is not a UUID: \(AccountIdRule.hint)")
        }
        value = normalized
    }

    public var description: String { value }
}

/// A closed set of words, decoded with a message that lists them.
protocol ConfigWord: RawRepresentable<String>, CaseIterable, Decodable, ConfigPlaceholder {}

extension ConfigWord {
    public init(from decoder: any Decoder) throws {
        let text = try ConfigScalar(from: decoder).text
        guard let value = Self(rawValue: text) else {
            throw ConfigValueError(
                "\"\(LogText.bounded(text, limit: 80))\" is not one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        self = value
    }
}
