import CYaml

/// A parsed YAML node with the line it starts on (1-based), for error messages.
enum YAMLNode: Sendable {
    /// A scalar with its text and whether it was quoted (a quoted `"0440"` is a string; plain
    /// `0440` is how YAML writes a number).
    case scalar(String, quoted: Bool, line: Int)
    case sequence([YAMLNode], line: Int)
    case mapping([(key: String, keyLine: Int, value: YAMLNode)], line: Int)

    var line: Int {
        switch self {
        case .scalar(_, _, let line), .sequence(_, let line), .mapping(_, let line): line
        }
    }

    /// Whether this is YAML's null (`~`, `null`, empty plain scalar).
    var isNull: Bool {
        if case .scalar(let text, quoted: false, _) = self {
            return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
        }
        return false
    }

    var kind: String {
        switch self {
        case .scalar: isNull ? "null" : "a scalar"
        case .sequence: "a list"
        case .mapping: "a mapping"
        }
    }
}

/// A YAML syntax problem.
struct YAMLSyntaxError: Error, Sendable {
    let line: Int
    let message: String
}

/// Parses YAML text with libyaml's event API into ``YAMLNode``s: one document, aliases resolved,
/// duplicate keys and non-scalar keys refused. Events, not libyaml's document loader: the nodes
/// are built as the events arrive, without a second tree in C (3 MB for a config of 1,000
/// accounts), and an alias can only name a node already complete (no cycles).
enum YAMLParser {
    static let maxNodes = 200_000
    static let maxDepth = 64

    /// A collection being read: its items so far, the key waiting for its value (mappings), its
    /// anchor, and the node count when it opened (its size, aliases at their full size, is the
    /// count when it closes minus that, plus one).
    private struct Frame {
        var line: Int
        var anchor: String?
        var isMapping: Bool
        var countAtOpen: Int
        var items: [YAMLNode] = []
        var pairs: [(key: String, keyLine: Int, value: YAMLNode)] = []
        var pendingKey: (name: String, line: Int)?
        var seen: Set<String> = []
    }

    static func parse(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLSyntaxError(line: 0, message: "cannot initialize libyaml")
        }
        defer { yaml_parser_delete(&parser) }
        var text = text  // a native string's UTF-8, read in place (no copy of a large config)
        let result = text.withUTF8 { buffer -> Result<YAMLNode?, YAMLSyntaxError> in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            do throws(YAMLSyntaxError) {
                return .success(try read(&parser))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func read(_ parser: inout yaml_parser_t) throws(YAMLSyntaxError) -> YAMLNode? {
        var stack: [Frame] = []
        var anchors: [String: (node: YAMLNode, size: Int)] = [:]
        var root: YAMLNode?
        var documents = 0
        var count = 0

        /// Counts nodes as they come (an alias at the size of what it names).
        func counted(_ size: Int, line: Int) throws(YAMLSyntaxError) {
            count += size
            guard count <= maxNodes else {
                throw YAMLSyntaxError(line: line, message: "too many YAML nodes (aliases expanding?)")
            }
        }

        /// A finished node goes into the collection being read, or is the document's root.
        func add(_ node: YAMLNode, size: Int, anchor: String?) throws(YAMLSyntaxError) {
            if let anchor {
                guard anchors[anchor] == nil else {
                    throw YAMLSyntaxError(
                        line: node.line, message: "the anchor &\(anchor) is defined twice: give each its own name")
                }
                anchors[anchor] = (node, size)
            }
            guard !stack.isEmpty else {
                root = node
                return
            }
            if !stack[stack.count - 1].isMapping {
                stack[stack.count - 1].items.append(node)
            } else if let key = stack[stack.count - 1].pendingKey {
                stack[stack.count - 1].pairs.append((key.name, key.line, node))
                stack[stack.count - 1].pendingKey = nil
            } else {
                guard case .scalar(let name, _, let keyLine) = node else {
                    throw YAMLSyntaxError(
                        line: node.line, message: "a mapping key must be a plain name, not \(node.kind)")
                }
                guard stack[stack.count - 1].seen.insert(name).inserted else {
                    throw YAMLSyntaxError(line: keyLine, message: "duplicate key \"\(name)\"")
                }
                stack[stack.count - 1].pendingKey = (name, keyLine)
            }
        }

        func open(_ anchor: UnsafeMutablePointer<yaml_char_t>?, line: Int, mapping: Bool) throws(YAMLSyntaxError) {
            guard stack.count < maxDepth else {
                throw YAMLSyntaxError(line: line, message: "YAML nested deeper than \(maxDepth)")
            }
            try counted(1, line: line)
            stack.append(
                Frame(line: line, anchor: anchor.map { String(cString: $0) }, isMapping: mapping, countAtOpen: count))
        }

        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxError(parser) }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return root
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                // A second document is a mistake in a config file.
                guard documents == 1 else {
                    throw YAMLSyntaxError(
                        line: line, message: "more than one YAML document: keep one (remove the second ---)")
                }
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let value = String(
                    decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                try counted(1, line: line)
                try add(
                    .scalar(value, quoted: scalar.style != YAML_PLAIN_SCALAR_STYLE, line: line), size: 1,
                    anchor: scalar.anchor.map { String(cString: $0) })
            case YAML_ALIAS_EVENT:
                let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
                guard let (node, size) = anchors[name] else {
                    throw YAMLSyntaxError(
                        line: line, message: "found undefined alias *\(name): define &\(name) on a node before it")
                }
                try counted(size, line: line)
                try add(node, size: size, anchor: nil)
            case YAML_SEQUENCE_START_EVENT:
                try open(event.data.sequence_start.anchor, line: line, mapping: false)
            case YAML_MAPPING_START_EVENT:
                try open(event.data.mapping_start.anchor, line: line, mapping: true)
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { break }
                let node: YAMLNode =
                    frame.isMapping ? .mapping(frame.pairs, line: frame.line) : .sequence(frame.items, line: frame.line)
                try add(node, size: count - frame.countAtOpen + 1, anchor: frame.anchor)
            default:
                break
            }
        }
    }

    private static func syntaxError(_ parser: yaml_parser_t) -> YAMLSyntaxError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let context = parser.context.map { String(cString: $0) + ": " } ?? ""
        let line = Int(parser.problem_mark.line) + 1
        return YAMLSyntaxError(line: line, message: "\(context)\(problem)")
    }
}
