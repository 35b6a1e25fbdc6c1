import Testing

@testable import SidecarConfig

/// The event-based reader under the config: what it builds, and what it refuses with a line.
@Suite("YAML reader")
struct YAMLParserTests {
    func error(_ text: String) -> YAMLSyntaxError? {
        do {
            _ = try YAMLParser.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test("mappings, lists, quoted and plain scalars with their lines; an alias is the anchored node")
    func shapes() throws {
        let node = try #require(
            try YAMLParser.parse(
                """
                defaults: &d {mode: "0440", format: token}
                list:
                  - 1
                  - *d
                empty:
                """))
        guard case .mapping(let pairs, line: 1) = node else {
            Issue.record("\(node)")
            return
        }
        #expect(pairs.map(\.key) == ["defaults", "list", "empty"])
        #expect(pairs.map(\.keyLine) == [1, 2, 5])
        guard case .sequence(let items, line: 3) = pairs[1].value, items.count == 2 else {
            Issue.record("\(pairs[1].value)")
            return
        }
        guard case .scalar("1", quoted: false, line: 3) = items[0] else {
            Issue.record("\(items[0])")
            return
        }
        guard case .mapping(let aliased, _) = items[1] else {
            Issue.record("\(items[1])")
            return
        }
        guard case .scalar("0440", quoted: true, _) = aliased[0].value else {
            Issue.record("\(aliased)")
            return
        }
        #expect(pairs[2].value.isNull)
        #expect(try YAMLParser.parse("") == nil)
        #expect(try YAMLParser.parse("# only a comment\n") == nil)
    }

    @Test("undefined, duplicate and self-referring anchors, duplicate keys, a second document, non-scalar keys")
    func refusals() {
        #expect(error("a: *nowhere\n")?.message.contains("undefined alias *nowhere") == true)
        #expect(error("a: &x 1\nb: &x 2\n")?.line == 2)
        #expect(error("a: &x 1\nb: &x 2\n")?.message.contains("&x is defined twice") == true)
        // An alias can only name a finished node: no cycle can be built.
        #expect(error("a: &x [1, *x]\n")?.message.contains("undefined alias *x") == true)
        #expect(error("a: 1\na: 2\n")?.message == "duplicate key \"a\"")
        #expect(error("a: 1\n---\nb: 2\n")?.message.contains("more than one YAML document") == true)
        #expect(error("? [a]\n: 1\n")?.message.contains("a mapping key must be a plain name") == true)
        #expect(error("a: [1, 2\n") != nil)
        let deep =
            String(repeating: "[", count: YAMLParser.maxDepth + 1)
            + String(repeating: "]", count: YAMLParser.maxDepth + 1)
        #expect(error(deep)?.message.contains("nested deeper") == true)
    }
}
