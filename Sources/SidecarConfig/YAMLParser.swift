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

/// Reads the config's YAML into ``YAMLNode``s through ``YAMLReader``: one document, anchors
/// named once, at most 200,000 nodes (aliases at their full size) nested at most 64 deep.
enum YAMLParser {
    static let limits = YAMLReader.Limits(maxNodes: 200_000, maxDepth: 64, oneDocument: true, uniqueAnchors: true)
    static var maxDepth: Int { limits.maxDepth }

    private struct Builder: YAMLTreeBuilder {
        func scalar(_ text: String, style: YAMLScalarStyle, tag: String?, line: Int) -> YAMLNode {
            .scalar(text, quoted: style != .plain, line: line)
        }

        func sequence(_ items: [YAMLNode], flow: Bool, tag: String?, line: Int) -> YAMLNode {
            .sequence(items, line: line)
        }

        func mapping(
            _ pairs: [(key: YAMLNode, keyText: String, value: YAMLNode)], flow: Bool, tag: String?, line: Int
        )
            -> YAMLNode
        {
            .mapping(pairs.map { ($0.keyText, $0.key.line, $0.value) }, line: line)
        }
    }

    static func parse(_ text: String) throws(YAMLSyntaxError) -> YAMLNode? {
        try YAMLReader.documents(in: text, limits: limits, builder: Builder()).first?.root
    }
}
