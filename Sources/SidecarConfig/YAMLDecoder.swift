/// A scalar with its quoting, for types that must tell `"0440"` from `0440`.
struct ConfigScalar: Decodable, Sendable {
    var text: String
    var quoted: Bool
    init(from decoder: any Decoder) throws {
        guard let yaml = decoder as? YAMLValueDecoder, case .scalar(let text, let quoted, _) = yaml.node else {
            throw ConfigValueError("must be a single value")
        }
        self.text = text
        self.quoted = quoted
    }
}

/// A value that decodes from a scalar and refuses bad input with a message.
package struct ConfigValueError: Error {
    package let message: String
    package init(_ message: String) { self.message = message }
}

/// A value the decoder can stand in for a missing or invalid one, so decoding goes on and every
/// problem is reported at once.
protocol ConfigPlaceholder {
    static var placeholder: Self { get }
}

/// Decodes ``YAMLNode``s into `Decodable` types, collecting every problem (type mismatches,
/// missing keys, unknown keys, values refused by their type) with its key path and line.
final class YAMLDecoding {
    var issues: [ConfigIssue] = []
    /// Keys asked for at each mapping path, present or not: the known keys.
    var askedKeys: [String: Set<String>] = [:]
    /// The line of every node, by key path.
    var lines: [String: Int] = [:]

    func decode<T: Decodable>(_ type: T.Type, from root: YAMLNode) -> T? {
        record(root, path: "")
        let decoder = YAMLValueDecoder(node: root, codingPath: [], decoding: self)
        let value = decoder.value(T.self)
        reportUnknownKeys(root, path: "")
        return value
    }

    func issue(_ path: [any CodingKey], line: Int?, _ message: String) {
        issues.append(ConfigIssue(path: Self.path(path), line: line, message: message))
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    private func record(_ node: YAMLNode, path: String) {
        lines[path] = node.line
        switch node {
        case .scalar: break
        case .sequence(let items, _):
            for (index, item) in items.enumerated() { record(item, path: "\(path)[\(index)]") }
        case .mapping(let pairs, _):
            for pair in pairs { record(pair.value, path: path.isEmpty ? pair.key : "\(path).\(pair.key)") }
        }
    }

    private func reportUnknownKeys(_ node: YAMLNode, path: String) {
        switch node {
        case .scalar: break
        case .sequence(let items, _):
            for (index, item) in items.enumerated() { reportUnknownKeys(item, path: "\(path)[\(index)]") }
        case .mapping(let pairs, _):
            guard let known = askedKeys[path] else { return }  // not decoded (its parent was refused)
            for pair in pairs {
                let childPath = path.isEmpty ? pair.key : "\(path).\(pair.key)"
                if known.contains(pair.key) {
                    reportUnknownKeys(pair.value, path: childPath)
                } else {
                    issues.append(
                        ConfigIssue(
                            path: childPath, line: pair.keyLine,
                            message: "unknown key; the keys here are \(known.sorted().joined(separator: ", "))"))
                }
            }
        }
    }
}

struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// The `Decoder` over one node.
struct YAMLValueDecoder: Decoder {
    let node: YAMLNode?
    let codingPath: [any CodingKey]
    let decoding: YAMLDecoding
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Decodes `T`, recording a problem and returning a placeholder instead of throwing.
    func value<T: Decodable>(_ type: T.Type) -> T? {
        do {
            return try decodeValue(type)
        } catch let error as ConfigValueError {
            decoding.issue(codingPath, line: node?.line, error.message)
        } catch let error as DecodingError {
            decoding.issue(codingPath, line: node?.line, Self.describe(error))
        } catch {
            decoding.issue(codingPath, line: node?.line, "\(error)")
        }
        return Self.placeholder(type)
    }

    static func placeholder<T: Decodable>(_ type: T.Type) -> T? {
        if let placeholder = type as? any ConfigPlaceholder.Type { return placeholder.placeholder as? T }
        return try? T(from: PlaceholderDecoder())
    }

    private func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        guard let node else { throw ConfigValueError("missing") }
        if T.self == String.self { return try scalarText(as: "a string") as! T }
        if T.self == Int.self {
            let text = try scalarText(as: "a whole number", quotedAllowed: false)
            guard let value = Int(text) else { throw ConfigValueError("\"\(text)\" is not a whole number") }
            return value as! T
        }
        if T.self == Double.self {
            let text = try scalarText(as: "a number", quotedAllowed: false)
            guard let value = Double(text), value.isFinite else {
                throw ConfigValueError("\"\(text)\" is not a number")
            }
            return value as! T
        }
        if T.self == Bool.self {
            let text = try scalarText(as: "true or false", quotedAllowed: false)
            switch text {
            case "true": return true as! T
            case "false": return false as! T
            default: throw ConfigValueError("\"\(text)\" is not true or false")
            }
        }
        _ = node
        return try T(from: self)
    }

    func scalarText(as what: String, quotedAllowed: Bool = true) throws -> String {
        guard case .scalar(let text, let quoted, _) = node, !(node?.isNull ?? true) || what == "a string" else {
            throw ConfigValueError("must be \(what), not \(node?.kind ?? "missing")")
        }
        if quoted && !quotedAllowed {
            throw ConfigValueError("must be \(what) without quotes, not the string \"\(text)\"")
        }
        return text
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context),
            .keyNotFound(_, let context):
            return context.debugDescription
        @unknown default:
            return "\(error)"
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let pairs, _) = node else {
            throw ConfigValueError("must be a mapping of keys to values, not \(node?.kind ?? "missing")")
        }
        return KeyedDecodingContainer(YAMLKeyedContainer<Key>(pairs: pairs, decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let items, _) = node else {
            throw ConfigValueError("must be a list, not \(node?.kind ?? "missing")")
        }
        return YAMLUnkeyedContainer(items: items, decoder: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { YAMLSingleValueContainer(decoder: self) }
}

struct YAMLKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let pairs: [(key: String, keyLine: Int, value: YAMLNode)]
    let decoder: YAMLValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { pairs.compactMap { Key(stringValue: $0.key) } }

    private func ask(_ key: Key) -> YAMLNode? {
        decoder.decoding.askedKeys[YAMLDecoding.path(codingPath), default: []].insert(key.stringValue)
        return pairs.first { $0.key == key.stringValue }?.value
    }

    private func child(_ key: Key) -> YAMLValueDecoder {
        YAMLValueDecoder(node: ask(key), codingPath: codingPath + [key], decoding: decoder.decoding)
    }

    func contains(_ key: Key) -> Bool { ask(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { ask(key)?.isNull ?? true }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let child = child(key)
        guard let node = child.node, !node.isNull else {
            decoder.decoding.issue(child.codingPath, line: decoder.node?.line, "missing required key")
            guard let placeholder = YAMLValueDecoder.placeholder(type) else { throw ConfigValueError("missing") }
            return placeholder
        }
        guard let value = child.value(type) else { throw ConfigValueError("unusable") }
        return value
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        let child = child(key)
        guard let node = child.node, !node.isNull else { return nil }
        return child.value(type)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder { child(key) }
}

struct YAMLUnkeyedContainer: UnkeyedDecodingContainer {
    let items: [YAMLNode]
    let decoder: YAMLValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }
    var currentIndex = 0

    init(items: [YAMLNode], decoder: YAMLValueDecoder) {
        self.items = items
        self.decoder = decoder
    }

    private mutating func next() -> YAMLValueDecoder {
        defer { currentIndex += 1 }
        return YAMLValueDecoder(
            node: currentIndex < items.count ? items[currentIndex] : nil,
            codingPath: codingPath + [IndexKey(currentIndex)], decoding: decoder.decoding)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return true }
        if items[currentIndex].isNull {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard let value = next().value(type) else { throw ConfigValueError("unusable") }
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { next() }
}

struct YAMLSingleValueContainer: SingleValueDecodingContainer {
    let decoder: YAMLValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    func decodeNil() -> Bool { decoder.node?.isNull ?? true }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard let value = decoder.value(type) else { throw ConfigValueError("unusable") }
        return value
    }
}

/// Decodes the neutral value of any type: empty containers, zero, empty strings, `nil`.
struct PlaceholderDecoder: Decoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(PlaceholderKeyed<Key>())
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer { PlaceholderUnkeyed() }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { PlaceholderSingle() }

    static func neutral<T: Decodable>(_ type: T.Type) throws -> T {
        if let placeholder = type as? any ConfigPlaceholder.Type, let value = placeholder.placeholder as? T {
            return value
        }
        switch type {
        case is String.Type: return "" as! T
        case is Int.Type: return 0 as! T
        case is Double.Type: return 0.0 as! T
        case is Bool.Type: return false as! T
        default: return try T(from: PlaceholderDecoder())
        }
    }
}

struct PlaceholderKeyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
    var codingPath: [any CodingKey] { [] }
    var allKeys: [Key] { [] }
    func contains(_ key: Key) -> Bool { false }
    func decodeNil(forKey key: Key) throws -> Bool { true }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try PlaceholderDecoder.neutral(type) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { nil }
    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    { KeyedDecodingContainer(PlaceholderKeyed<NestedKey>()) }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer { PlaceholderUnkeyed() }
    func superDecoder() throws -> any Decoder { PlaceholderDecoder() }
    func superDecoder(forKey key: Key) throws -> any Decoder { PlaceholderDecoder() }
}

struct PlaceholderUnkeyed: UnkeyedDecodingContainer {
    var codingPath: [any CodingKey] { [] }
    var count: Int? { 0 }
    var isAtEnd: Bool { true }
    var currentIndex: Int { 0 }
    mutating func decodeNil() throws -> Bool { true }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try PlaceholderDecoder.neutral(type) }
    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws
        -> KeyedDecodingContainer<NestedKey>
    { KeyedDecodingContainer(PlaceholderKeyed<NestedKey>()) }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { PlaceholderUnkeyed() }
    mutating func superDecoder() throws -> any Decoder { PlaceholderDecoder() }
}

struct PlaceholderSingle: SingleValueDecodingContainer {
    var codingPath: [any CodingKey] { [] }
    func decodeNil() -> Bool { true }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try PlaceholderDecoder.neutral(type) }
}
