package import AzureCore
import CYaml
package import SidecarConfig

/// A node of a Kubernetes manifest as libyaml read it, with what writing it back needs: each
/// scalar's style and tag, each collection's flow or block style, and the order of keys.
/// Anchors are not kept: an alias is a copy of the node it names.
package indirect enum ManifestNode: Sendable, Equatable {
    case scalar(String, style: ScalarStyle, tag: String?)
    case sequence([ManifestNode], flow: Bool, tag: String?)
    case mapping([Pair], flow: Bool, tag: String?)

    /// One key and its value, in the order of the file.
    package struct Pair: Sendable, Equatable {
        package var key: ManifestNode
        package var value: ManifestNode
    }

    /// How a scalar was written.
    package typealias ScalarStyle = YAMLScalarStyle

    /// The value of a mapping's key, if it has it.
    package subscript(key: String) -> ManifestNode? {
        guard case .mapping(let pairs, _, _) = self else { return nil }
        return pairs.first { $0.key.text == key }?.value
    }

    /// A scalar's text.
    package var text: String? {
        if case .scalar(let text, _, _) = self { return text }
        return nil
    }
}

/// One document of a YAML stream: its root node and the text it was read from, so that a
/// document that is not changed is written back as it was, byte for byte.
package struct ManifestDocument: Sendable {
    /// The document's content; `nil` for an empty document (only comments, or nothing after `---`).
    package var root: ManifestNode?
    /// The document's text: from its `---` (for the first document, from the start of the
    /// stream) to the next document's.
    package var text: String
    /// The part of `text` before the root node: `---`, directives, comments.
    package var prefix: String
    /// The part of `text` after the root node.
    package var suffix: String
    /// The line the document's text starts on (1-based).
    package var line: Int
}

/// Reads YAML streams into ``ManifestDocument``s with libyaml's event API, and writes nodes
/// back with libyaml's emitter.
///
/// libyaml keeps no comments: a document written back from its nodes loses them (a document
/// that is not changed keeps its text, comments included). Tags and scalar styles are kept;
/// anchors and aliases are expanded.
package enum ManifestYAML {
    /// A stream of manifests: any number of documents, anchors redefined as YAML allows, at most
    /// 2,000,000 nodes (aliases at their full size) nested at most 128 deep.
    static let limits = YAMLReader.Limits(maxNodes: 2_000_000, maxDepth: 128, oneDocument: false, uniqueAnchors: false)

    private struct Builder: YAMLTreeBuilder {
        func scalar(_ text: String, style: YAMLScalarStyle, tag: String?, line: Int) -> ManifestNode {
            .scalar(text, style: style, tag: tag)
        }

        func sequence(_ items: [ManifestNode], flow: Bool, tag: String?, line: Int) -> ManifestNode {
            .sequence(items, flow: flow, tag: tag)
        }

        func mapping(
            _ pairs: [(key: ManifestNode, keyText: String, value: ManifestNode)], flow: Bool, tag: String?, line: Int
        ) -> ManifestNode {
            .mapping(pairs.map { ManifestNode.Pair(key: $0.key, value: $0.value) }, flow: flow, tag: tag)
        }
    }

    /// The documents of a YAML stream, through the project's one libyaml reader (``YAMLReader``).
    package static func documents(in text: String) throws(YAMLSyntaxError) -> [ManifestDocument] {
        let read = try YAMLReader.documents(in: text, limits: limits, builder: Builder())
        guard !read.isEmpty else {
            // Only comments and blank lines, or nothing: no document, and the text as it is.
            return text.isEmpty ? [] : [ManifestDocument(root: nil, text: text, prefix: text, suffix: "", line: 1)]
        }
        let bytes = Array(text.utf8)
        func slice(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        return read.map { document in
            ManifestDocument(
                root: document.root, text: slice(document.range),
                prefix: slice(document.range.lowerBound..<document.rootRange.lowerBound),
                suffix: slice(document.rootRange.upperBound..<document.range.upperBound), line: document.line)
        }
    }

    // MARK: Writing

    /// The YAML text of a node, as a document without `---`: two-space indentation, no line
    /// folding, non-ASCII text as it is.
    package static func emit(_ node: ManifestNode) -> String {
        final class Output {
            var bytes: [UInt8] = []
        }
        let output = Output()
        var emitter = yaml_emitter_t()
        guard yaml_emitter_initialize(&emitter) == 1 else { return "" }
        defer { yaml_emitter_delete(&emitter) }
        yaml_emitter_set_indent(&emitter, 2)
        yaml_emitter_set_width(&emitter, -1)
        yaml_emitter_set_unicode(&emitter, 1)
        yaml_emitter_set_break(&emitter, YAML_LN_BREAK)
        let box = Unmanaged.passUnretained(output).toOpaque()
        yaml_emitter_set_output(
            &emitter,
            { data, buffer, size in
                guard let data, let buffer else { return 0 }
                Unmanaged<Output>.fromOpaque(data).takeUnretainedValue().bytes.append(
                    contentsOf: UnsafeBufferPointer(start: buffer, count: size))
                return 1
            }, box)
        var ok = true
        func emit(_ configure: (inout yaml_event_t) -> Int32) {
            guard ok else { return }
            var event = yaml_event_t()
            guard configure(&event) == 1 else {
                ok = false
                return
            }
            ok = yaml_emitter_emit(&emitter, &event) == 1
        }
        emit { yaml_stream_start_event_initialize(&$0, YAML_UTF8_ENCODING) }
        emit { yaml_document_start_event_initialize(&$0, nil, nil, nil, 1) }
        write(node, emit)
        emit { yaml_document_end_event_initialize(&$0, 1) }
        emit { yaml_stream_end_event_initialize(&$0) }
        _ = yaml_emitter_flush(&emitter)
        return withExtendedLifetime(output) { String(decoding: output.bytes, as: UTF8.self) }
    }

    private static func write(_ node: ManifestNode, _ emit: ((inout yaml_event_t) -> Int32) -> Void) {
        func withTag<R>(_ tag: String?, _ body: (UnsafePointer<yaml_char_t>?) -> R) -> R {
            guard let tag else { return body(nil) }
            return tag.withCString { $0.withMemoryRebound(to: yaml_char_t.self, capacity: tag.utf8.count + 1, body) }
        }
        switch node {
        case .scalar(let text, let style, let tag):
            let yamlStyle: yaml_scalar_style_t =
                switch style {
                case .plain: YAML_PLAIN_SCALAR_STYLE
                case .singleQuoted: YAML_SINGLE_QUOTED_SCALAR_STYLE
                case .doubleQuoted: YAML_DOUBLE_QUOTED_SCALAR_STYLE
                case .literal: YAML_LITERAL_SCALAR_STYLE
                case .folded: YAML_FOLDED_SCALAR_STYLE
                }
            // A terminating zero: an empty scalar still has an address.
            let bytes = Array(text.utf8) + [0]
            withTag(tag) { tagPointer in
                bytes.withUnsafeBufferPointer { buffer in
                    emit {
                        yaml_scalar_event_initialize(
                            &$0, nil, tagPointer, buffer.baseAddress, Int32(buffer.count - 1),
                            tag == nil ? 1 : 0, tag == nil ? 1 : 0, yamlStyle)
                    }
                }
            }
        case .sequence(let items, let flow, let tag):
            withTag(tag) { tagPointer in
                emit {
                    yaml_sequence_start_event_initialize(
                        &$0, nil, tagPointer, tag == nil ? 1 : 0,
                        flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE)
                }
            }
            for item in items { write(item, emit) }
            emit { yaml_sequence_end_event_initialize(&$0) }
        case .mapping(let pairs, let flow, let tag):
            withTag(tag) { tagPointer in
                emit {
                    yaml_mapping_start_event_initialize(
                        &$0, nil, tagPointer, tag == nil ? 1 : 0,
                        flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE)
                }
            }
            for pair in pairs {
                write(pair.key, emit)
                write(pair.value, emit)
            }
            emit { yaml_mapping_end_event_initialize(&$0) }
        }
    }

    // MARK: JSON

    /// The JSON value of a node, as Kubernetes reads YAML (YAML 1.1's booleans, such as `yes`
    /// and `off`, included, and merge keys resolved): a plain scalar may be null, a Boolean or a
    /// number, a quoted one is a string, a tag decides where there is one.
    package static func json(_ node: ManifestNode) -> JSONValue {
        switch node {
        case .scalar(let text, let style, let tag):
            if let tag {
                switch tag {
                case "tag:yaml.org,2002:str": return .string(text)
                case "tag:yaml.org,2002:null": return .null
                case "tag:yaml.org,2002:bool": return boolean(text).map { .bool($0) } ?? .string(text)
                case "tag:yaml.org,2002:int", "tag:yaml.org,2002:float":
                    return number(text).map { .number($0) } ?? .string(text)
                default: return .string(text)
                }
            }
            guard style == .plain else { return .string(text) }
            return plainValue(text)
        case .sequence(let items, _, _):
            return .array(items.map(json))
        case .mapping(let pairs, _, _):
            var members: [String: JSONValue] = [:]
            var merged: [String: JSONValue] = [:]
            for pair in pairs {
                // A merge key (`<<: *defaults`), which Kubernetes' YAML reader resolves: the members
                // of the mapping (or mappings, the first winning) it names, under the explicit ones.
                if case .scalar("<<", .plain, nil) = pair.key {
                    let sources: [ManifestNode] =
                        if case .sequence(let items, _, _) = pair.value { items } else { [pair.value] }
                    for source in sources {
                        for (key, value) in json(source).object ?? [:] where merged[key] == nil { merged[key] = value }
                    }
                    continue
                }
                members[pair.key.text ?? ""] = json(pair.value)
            }
            for (key, value) in merged where members[key] == nil { members[key] = value }
            return .object(members)
        }
    }

    /// A plain scalar's value.
    static func plainValue(_ text: String) -> JSONValue {
        if ["", "~", "null", "Null", "NULL"].contains(text) { return .null }
        if let value = boolean(text) { return .bool(value) }
        if let value = number(text) { return .number(value) }
        return .string(text)
    }

    private static let trueWords: Set<String> = [
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    ]
    private static let falseWords: Set<String> = [
        "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    ]

    private static func boolean(_ text: String) -> Bool? {
        trueWords.contains(text) ? true : falseWords.contains(text) ? false : nil
    }

    private static func number(_ text: String) -> Double? {
        let digits = text.replacing("_", with: "")
        guard let first = digits.first, first.isNumber || "+-.".contains(first) else { return nil }
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            return Int(digits.dropFirst(2), radix: 16).map(Double.init)
        }
        if digits.hasPrefix("0o") { return Int(digits.dropFirst(2), radix: 8).map(Double.init) }
        if digits.hasPrefix("0b") { return Int(digits.dropFirst(2), radix: 2).map(Double.init) }
        // YAML 1.1's octal, as Kubernetes reads `defaultMode: 0440`.
        let unsigned = digits.drop { $0 == "-" || $0 == "+" }
        if unsigned.count > 1, unsigned.first == "0", unsigned.allSatisfy({ ("0"..."7").contains($0) }),
            let value = Int(unsigned, radix: 8)
        {
            return Double(digits.first == "-" ? -value : value)
        }
        if [".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].contains(digits) { return .infinity }
        if ["-.inf", "-.Inf", "-.INF"].contains(digits) { return -.infinity }
        guard digits.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
            digits.contains(where: \.isNumber)
        else { return nil }
        return Double(digits)
    }

    /// The node of a JSON value: mappings in block style with `name` first and the other keys
    /// in order, strings plain where YAML reads them back as the same string and quoted
    /// otherwise, text of several lines as a literal block.
    package static func node(_ value: JSONValue) -> ManifestNode {
        switch value {
        case .null: return .scalar("null", style: .plain, tag: nil)
        case .bool(let flag): return .scalar(flag ? "true" : "false", style: .plain, tag: nil)
        case .number(let number):
            let text =
                number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
            return .scalar(text, style: .plain, tag: nil)
        case .string(let text):
            if text.contains("\n") && !text.contains("\r") && text.first != " " {
                return .scalar(text, style: .literal, tag: nil)
            }
            return .scalar(text, style: isPlainSafe(text) ? .plain : .doubleQuoted, tag: nil)
        case .array(let items):
            return .sequence(items.map(node), flow: false, tag: nil)
        case .object(let members):
            let keys = members.keys.sorted { left, right in
                left == "name" ? right != "name" : right == "name" ? false : left < right
            }
            return .mapping(
                keys.map { ManifestNode.Pair(key: node(.string($0)), value: node(members[$0]!)) }, flow: false,
                tag: nil)
        }
    }

    /// Whether a string can be written plain and still read back as the same string: letters,
    /// digits and `_ . / -`, not first a digit or a sign, and not a word YAML 1.1 reads as a
    /// Boolean or null.
    static func isPlainSafe(_ text: String) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter || first == "/" || first == "_" else {
            return false
        }
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_./-".contains($0)) }) else {
            return false
        }
        return plainValue(text) == .string(text)
    }

    // MARK: Editing

    /// Applies the injector's JSON Patch (`add` operations, RFC 6902 as Kubernetes applies them)
    /// to a node, keeping everything else as it is.
    package static func apply(
        _ operations: [PatchOperation], to node: ManifestNode
    ) throws(YAMLSyntaxError)
        -> ManifestNode
    {
        var result = node
        for operation in operations {
            guard operation.op == "add", operation.path.hasPrefix("/") else {
                throw YAMLSyntaxError(line: 0, message: "cannot apply \(operation.op) \(operation.path)")
            }
            let tokens = operation.path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
                String($0).replacing("~1", with: "/").replacing("~0", with: "~")
            }
            result = try add(Self.node(operation.value), at: tokens[...], in: result, path: operation.path)
        }
        return result
    }

    private static func add(
        _ value: ManifestNode, at tokens: ArraySlice<String>, in node: ManifestNode, path: String
    ) throws(YAMLSyntaxError) -> ManifestNode {
        guard let token = tokens.first else { return value }
        let rest = tokens.dropFirst()
        switch node {
        case .mapping(var pairs, let flow, let tag):
            if let index = pairs.firstIndex(where: { $0.key.text == token }) {
                pairs[index].value = rest.isEmpty ? value : try add(value, at: rest, in: pairs[index].value, path: path)
            } else if rest.isEmpty {
                pairs.append(ManifestNode.Pair(key: self.node(.string(token)), value: value))
            } else {
                throw YAMLSyntaxError(line: 0, message: "\(path): no member \(token)")
            }
            return .mapping(pairs, flow: flow, tag: tag)
        case .sequence(var items, let flow, let tag):
            if rest.isEmpty {
                if token == "-" {
                    items.append(value)
                } else if let index = Int(token), index <= items.count {
                    items.insert(value, at: index)
                } else {
                    throw YAMLSyntaxError(line: 0, message: "\(path): bad index \(token)")
                }
            } else {
                guard let index = Int(token), index < items.count else {
                    throw YAMLSyntaxError(line: 0, message: "\(path): bad index \(token)")
                }
                items[index] = try add(value, at: rest, in: items[index], path: path)
            }
            return .sequence(items, flow: flow, tag: tag)
        case .scalar:
            throw YAMLSyntaxError(line: 0, message: "\(path): \(token) is inside a scalar")
        }
    }
}
