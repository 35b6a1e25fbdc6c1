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

/// Parses YAML text with libyaml into ``YAMLNode``s: one document, aliases resolved, duplicate
/// keys and non-scalar keys refused.
enum YAMLParser {
    static let maxNodes = 200_000
    static let maxDepth = 64

    static func parse(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLSyntaxError(line: 0, message: "cannot initialize libyaml")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(YAMLSyntaxError) -> YAMLNode? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var document = yaml_document_t()
            guard yaml_parser_load(&parser, &document) == 1 else { throw syntaxError(parser) }
            defer { yaml_document_delete(&document) }
            guard let root = yaml_document_get_root_node(&document) else { return nil }  // empty stream
            var count = 0
            let node = try convert(root, document: &document, depth: 0, count: &count)
            // A second document is a mistake in a config file.
            var next = yaml_document_t()
            guard yaml_parser_load(&parser, &next) == 1 else { throw syntaxError(parser) }
            defer { yaml_document_delete(&next) }
            if yaml_document_get_root_node(&next) != nil {
                throw YAMLSyntaxError(
                    line: Int(parser.mark.line) + 1,
                    message: "more than one YAML document: keep one (remove the second ---)")
            }
            return node
        }
    }

    private static func syntaxError(_ parser: yaml_parser_t) -> YAMLSyntaxError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let context = parser.context.map { String(cString: $0) + ": " } ?? ""
        let line = Int(parser.problem_mark.line) + 1
        return YAMLSyntaxError(line: line, message: "\(context)\(problem)")
    }

    private static func convert(
        _ node: UnsafeMutablePointer<yaml_node_t>, document: inout yaml_document_t, depth: Int, count: inout Int
    ) throws(YAMLSyntaxError) -> YAMLNode {
        let line = Int(node.pointee.start_mark.line) + 1
        count += 1
        guard count <= maxNodes else {
            throw YAMLSyntaxError(line: line, message: "too many YAML nodes (aliases expanding?)")
        }
        guard depth <= maxDepth else {
            throw YAMLSyntaxError(line: line, message: "YAML nested deeper than \(maxDepth)")
        }
        switch node.pointee.type {
        case YAML_SCALAR_NODE:
            let scalar = node.pointee.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            return .scalar(text, quoted: scalar.style != YAML_PLAIN_SCALAR_STYLE, line: line)
        case YAML_SEQUENCE_NODE:
            var items: [YAMLNode] = []
            var item = node.pointee.data.sequence.items.start
            while let current = item, current != node.pointee.data.sequence.items.top {
                guard let child = yaml_document_get_node(&document, current.pointee) else { break }
                items.append(try convert(child, document: &document, depth: depth + 1, count: &count))
                item = current + 1
            }
            return .sequence(items, line: line)
        case YAML_MAPPING_NODE:
            var pairs: [(key: String, keyLine: Int, value: YAMLNode)] = []
            var seen: Set<String> = []
            var pair = node.pointee.data.mapping.pairs.start
            while let current = pair, current != node.pointee.data.mapping.pairs.top {
                guard let keyNode = yaml_document_get_node(&document, current.pointee.key),
                    let valueNode = yaml_document_get_node(&document, current.pointee.value)
                else { break }
                let key = try convert(keyNode, document: &document, depth: depth + 1, count: &count)
                guard case .scalar(let name, _, let keyLine) = key else {
                    throw YAMLSyntaxError(
                        line: key.line, message: "a mapping key must be a plain name, not \(key.kind)")
                }
                guard seen.insert(name).inserted else {
                    throw YAMLSyntaxError(line: keyLine, message: "duplicate key \"\(name)\"")
                }
                pairs.append(
                    (name, keyLine, try convert(valueNode, document: &document, depth: depth + 1, count: &count)))
                pair = current + 1
            }
            return .mapping(pairs, line: line)
        default:
            return .scalar("", quoted: false, line: line)
        }
    }
}
