import AzureCore
import CYaml

/// A YAML syntax problem, with its line (1-based).
package struct YAMLSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    package let line: Int
    package let message: String

    package init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    package var description: String { "line \(line): \(message)" }
}

/// How a scalar was written.
package enum YAMLScalarStyle: Sendable, Equatable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// What a ``YAMLReader`` builds its nodes with: the config's ``YAMLNode`` (lines, quoted or not)
/// or the injector's manifest nodes (styles, tags, flow or block).
package protocol YAMLTreeBuilder {
    associatedtype Node
    func scalar(_ text: String, style: YAMLScalarStyle, tag: String?, line: Int) -> Node
    func sequence(_ items: [Node], flow: Bool, tag: String?, line: Int) -> Node
    /// `keys` are scalar nodes, each with its text.
    func mapping(_ pairs: [(key: Node, keyText: String, value: Node)], flow: Bool, tag: String?, line: Int) -> Node
}

/// One document of a stream: its root (`nil` when empty) and where its text lies, as byte
/// offsets into the stream: from its `---` (for the first document, from the start of the
/// stream) to the next document's, and its root's part of that.
package struct YAMLReadDocument<Node> {
    package var root: Node?
    package var range: Range<Int>
    package var rootRange: Range<Int>
    /// The line the document's text starts on (1-based).
    package var line: Int
}

/// The one libyaml event reader of the project: nodes built as events arrive (no C document
/// tree), aliases resolved to copies of finished nodes (so no cycle can be built) and counted at
/// their full size, duplicate and non-scalar keys refused, each document's byte range kept.
/// The config (``YAMLParser``) and the injector's manifests read through it.
package enum YAMLReader {
    /// What a reader accepts.
    package struct Limits: Sendable {
        /// Nodes in the stream, an alias at the size of what it names (an alias bomb stops here).
        package var maxNodes: Int
        package var maxDepth: Int
        /// A second document is an error (a config file).
        package var oneDocument: Bool
        /// An anchor defined twice is an error (YAML allows it; in a config it is a mistake).
        package var uniqueAnchors: Bool

        package init(maxNodes: Int, maxDepth: Int, oneDocument: Bool, uniqueAnchors: Bool) {
            self.maxNodes = maxNodes
            self.maxDepth = maxDepth
            self.oneDocument = oneDocument
            self.uniqueAnchors = uniqueAnchors
        }
    }

    private enum Kind: String {
        case scalar = "a scalar"
        case sequence = "a list"
        case mapping = "a mapping"
    }

    private struct Frame<Node> {
        var line: Int
        var anchor: String?
        var tag: String?
        var flow: Bool
        var isMapping: Bool
        var countAtOpen: Int
        var items: [Node] = []
        var pairs: [(key: Node, keyText: String, value: Node)] = []
        var pendingKey: (node: Node, text: String)?
        var seen: Set<String> = []
    }

    /// The documents of a YAML stream (UTF-8, a leading byte order mark skipped and left in the
    /// first document's range).
    package static func documents<B: YAMLTreeBuilder>(
        in text: String, limits: Limits, builder: B
    ) throws(YAMLSyntaxError) -> [YAMLReadDocument<B.Node>] {
        var text = text  // a native string's UTF-8, read in place (no copy of a large file)
        let outcome = text.withUTF8 { buffer -> Result<[YAMLReadDocument<B.Node>], YAMLSyntaxError> in
            // libyaml reads a byte order mark as text when the encoding is given.
            let skipped = buffer.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
            let input = UnsafeBufferPointer(rebasing: buffer[skipped...])
            // libyaml's marks count characters; ranges are bytes.
            let offsets: [Int]? =
                input.allSatisfy({ $0 < 0x80 })
                ? nil
                : String(decoding: input, as: UTF8.self).unicodeScalars.reduce(into: [0]) {
                    $0.append($0.last! + $1.utf8.count)
                }
            func byte(_ mark: yaml_mark_t) -> Int {
                let index = Int(mark.index)
                return skipped + (offsets.map { $0[min(index, $0.count - 1)] } ?? min(index, input.count))
            }
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                return .failure(YAMLSyntaxError(line: 0, message: "cannot initialize libyaml"))
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, input.baseAddress, input.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var read: [YAMLReadDocument<B.Node>]
            do throws(YAMLSyntaxError) {
                read = try events(&parser, limits: limits, builder: builder, byte: byte)
            } catch {
                return .failure(error)
            }
            for index in read.indices {
                let end = index + 1 < read.count ? read[index + 1].range.lowerBound : buffer.count
                let start = index == 0 ? 0 : read[index].range.lowerBound
                read[index].range = start..<end
                let rootStart = min(max(read[index].rootRange.lowerBound, start), end)
                read[index].rootRange = rootStart..<min(max(read[index].rootRange.upperBound, rootStart), end)
            }
            return .success(read)
        }
        return try outcome.get()
    }

    private static func events<B: YAMLTreeBuilder>(
        _ parser: inout yaml_parser_t, limits: Limits, builder: B, byte: (yaml_mark_t) -> Int
    ) throws(YAMLSyntaxError) -> [YAMLReadDocument<B.Node>] {
        typealias Node = B.Node
        var documents: [YAMLReadDocument<Node>] = []
        var stack: [Frame<Node>] = []
        var anchors: [String: (node: Node, kind: Kind, size: Int)] = [:]
        var count = 0
        /// The text of the scalar just added (a key's name), and of each anchored scalar (a key
        /// may be an alias).
        var lastScalar: String?
        var scalarTexts: [String: String] = [:]

        func counted(_ size: Int, line: Int) throws(YAMLSyntaxError) {
            count += size
            guard count <= limits.maxNodes else {
                throw YAMLSyntaxError(line: line, message: "too many YAML nodes (aliases expanding?)")
            }
        }

        /// A finished node goes into the collection being read, or is the document's root.
        func add(_ node: Node, kind: Kind, size: Int, anchor: String?, line: Int, end: Int) throws(YAMLSyntaxError) {
            if let anchor {
                if limits.uniqueAnchors && anchors[anchor] != nil {
                    throw YAMLSyntaxError(
                        line: line, message: "the anchor &\(anchor) is defined twice: give each its own name")
                }
                anchors[anchor] = (node, kind, size)
            }
            guard !stack.isEmpty else {
                documents[documents.count - 1].root = node
                documents[documents.count - 1].rootRange =
                    documents[documents.count - 1].rootRange.lowerBound..<end
                return
            }
            let top = stack.count - 1
            if !stack[top].isMapping {
                stack[top].items.append(node)
            } else if let key = stack[top].pendingKey {
                stack[top].pairs.append((key.node, key.text, node))
                stack[top].pendingKey = nil
            } else {
                guard kind == .scalar, let text = lastScalar else {
                    throw YAMLSyntaxError(
                        line: line, message: "a mapping key must be a plain name, not \(kind.rawValue)")
                }
                guard stack[top].seen.insert(text).inserted else {
                    throw YAMLSyntaxError(line: line, message: "duplicate key \"\(LogText.bounded(text))\"")
                }
                stack[top].pendingKey = (node, text)
            }
        }
        func noteRootStart(_ event: yaml_event_t) {
            if stack.isEmpty, !documents.isEmpty, documents[documents.count - 1].root == nil {
                let start = byte(event.start_mark)
                documents[documents.count - 1].rootRange = start..<start
            }
        }

        func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }

        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else {
                let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
                let context = parser.context.map { String(cString: $0) + ": " } ?? ""
                throw YAMLSyntaxError(line: Int(parser.problem_mark.line) + 1, message: "\(context)\(problem)")
            }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return documents
            case YAML_DOCUMENT_START_EVENT:
                guard !limits.oneDocument || documents.isEmpty else {
                    throw YAMLSyntaxError(
                        line: line, message: "more than one YAML document: keep one (remove the second ---)")
                }
                let start = byte(event.start_mark)
                documents.append(
                    YAMLReadDocument(root: nil, range: start..<start, rootRange: start..<start, line: line))
            case YAML_SCALAR_EVENT:
                noteRootStart(event)
                let scalar = event.data.scalar
                let value = String(
                    decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                let style: YAMLScalarStyle =
                    switch scalar.style {
                    case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
                    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
                    case YAML_LITERAL_SCALAR_STYLE: .literal
                    case YAML_FOLDED_SCALAR_STYLE: .folded
                    default: .plain
                    }
                try counted(1, line: line)
                let anchor = string(scalar.anchor)
                if let anchor { scalarTexts[anchor] = value }
                lastScalar = value
                try add(
                    builder.scalar(value, style: style, tag: string(scalar.tag), line: line), kind: .scalar, size: 1,
                    anchor: anchor, line: line, end: byte(event.end_mark))
            case YAML_ALIAS_EVENT:
                noteRootStart(event)
                let name = string(event.data.alias.anchor) ?? ""
                guard let (node, kind, size) = anchors[name] else {
                    throw YAMLSyntaxError(
                        line: line, message: "found undefined alias *\(name): define &\(name) on a node before it")
                }
                try counted(size, line: line)
                lastScalar = kind == .scalar ? scalarTexts[name] : nil
                try add(node, kind: kind, size: size, anchor: nil, line: line, end: byte(event.end_mark))
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                noteRootStart(event)
                guard stack.count < limits.maxDepth else {
                    throw YAMLSyntaxError(line: line, message: "YAML nested deeper than \(limits.maxDepth)")
                }
                try counted(1, line: line)
                let mapping = event.type == YAML_MAPPING_START_EVENT
                let data = event.data
                stack.append(
                    Frame(
                        line: line,
                        anchor: string(mapping ? data.mapping_start.anchor : data.sequence_start.anchor),
                        tag: string(mapping ? data.mapping_start.tag : data.sequence_start.tag),
                        flow: mapping
                            ? data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
                            : data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE,
                        isMapping: mapping, countAtOpen: count))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { break }
                let node =
                    frame.isMapping
                    ? builder.mapping(frame.pairs, flow: frame.flow, tag: frame.tag, line: frame.line)
                    : builder.sequence(frame.items, flow: frame.flow, tag: frame.tag, line: frame.line)
                try add(
                    node, kind: frame.isMapping ? .mapping : .sequence, size: count - frame.countAtOpen + 1,
                    anchor: frame.anchor, line: frame.line, end: byte(event.end_mark))
            default:
                break
            }
        }
    }
}
