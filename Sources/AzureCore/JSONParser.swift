/// Parses JSON bytes into a ``JSONValue`` in one pass, with bounds on what a hostile body can
/// make it do: nesting depth, number of values, and the body's length (the caller's). Used for
/// AdmissionReviews, where the body comes from whoever can reach the webhook.
package struct JSONParser {
    /// Why a body was refused.
    package struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, and where (a byte offset).
        package let reason: String
        package var description: String { reason }
    }

    /// The deepest nesting accepted (Kubernetes objects stay under 20).
    package var maxDepth = 64
    /// The most values (objects, arrays, strings, numbers, literals) accepted in one document.
    package var maxValues = 200_000

    package init(maxDepth: Int = 64, maxValues: Int = 200_000) {
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }

    /// The value of `bytes`, which must hold exactly one JSON value (white space around it aside).
    /// - Throws: ``Failure`` for malformed JSON, or JSON deeper or larger than the bounds.
    package func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(Failure) -> JSONValue in try parse(buffer) }
    }

    /// The value of the bytes in `buffer` (read in place: a large body is not copied).
    /// - Throws: ``Failure`` for malformed JSON, or JSON deeper or larger than the bounds.
    package func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(Failure) -> JSONValue {
        var reader = Reader(bytes: buffer, maxDepth: maxDepth, maxValues: maxValues)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == buffer.count else { throw reader.failure("text after the JSON value") }
        return value
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        let maxValues: Int
        var position = 0
        var values = 0

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, maxValues: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
            self.maxValues = maxValues
        }

        func failure(_ reason: String) -> Failure {
            Failure(reason: "\(reason) at byte \(position)")
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(Failure) -> JSONValue {
            values += 1
            guard values <= maxValues else { throw failure("more than \(maxValues) JSON values") }
            guard position < bytes.count else { throw failure("the JSON ends early") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw failure("not a JSON value")
            }
        }

        mutating func literal(_ word: StaticString, _ value: JSONValue) throws(Failure) -> JSONValue {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw failure("not a JSON value") }
            for index in 0..<count where bytes[position + index] != word.utf8Start[index] {
                throw failure("not a JSON value")
            }
            position += count
            return value
        }

        mutating func object(depth: Int) throws(Failure) -> JSONValue {
            guard depth <= maxDepth else { throw failure("JSON nested deeper than \(maxDepth)") }
            position += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw failure("an object key must be a string")
                }
                let key = try string()
                skipWhitespace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                    throw failure("':' expected")
                }
                position += 1
                skipWhitespace()
                members[key] = try value(depth: depth)
                skipWhitespace()
                guard position < bytes.count else { throw failure("the JSON ends early") }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(members)
                default: throw failure("',' or '}' expected")
                }
            }
        }

        mutating func array(depth: Int) throws(Failure) -> JSONValue {
            guard depth <= maxDepth else { throw failure("JSON nested deeper than \(maxDepth)") }
            position += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth))
                skipWhitespace()
                guard position < bytes.count else { throw failure("the JSON ends early") }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(items)
                default: throw failure("',' or ']' expected")
                }
            }
        }

        mutating func string() throws(Failure) -> String {
            position += 1  // the opening quote
            let start = position
            // Fast path: no escape, until the closing quote.
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = try utf8(start..<position)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                guard byte >= 0x20 else { throw failure("a control character in a string") }
                position += 1
            }
            var scalars: [UInt8] = Array(bytes[start..<position])
            while position < bytes.count {
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    guard let text = String(validating: scalars, as: UTF8.self) else {
                        throw failure("a string that is not UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    position += 1
                    guard position < bytes.count else { throw failure("the JSON ends early") }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"): scalars += try unicodeEscape()
                    default: throw failure("an unknown escape in a string")
                    }
                default:
                    guard byte >= 0x20 else { throw failure("a control character in a string") }
                    scalars.append(byte)
                    position += 1
                }
            }
            throw failure("a string does not end")
        }

        /// The UTF-8 of a `\uXXXX` escape (and of its low surrogate, when it is a high one).
        mutating func unicodeEscape() throws(Failure) -> [UInt8] {
            var code = try hex4()
            if (0xD800...0xDBFF).contains(code) {
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw failure("a lone surrogate in a string") }
                position += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw failure("a lone surrogate in a string") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(code) {
                throw failure("a lone surrogate in a string")
            }
            guard let scalar = Unicode.Scalar(code) else { throw failure("an invalid \\u escape") }
            return Array(String(Character(scalar)).utf8)
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard position + 4 <= bytes.count else { throw failure("the JSON ends early") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw failure("an invalid \\u escape")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }

        mutating func number() throws(Failure) -> JSONValue {
            let start = position
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) else {
                throw failure("an invalid number")
            }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else {
                skipDigits()
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard skipDigits() > 0 else { throw failure("an invalid number") }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")
                {
                    position += 1
                }
                guard skipDigits() > 0 else { throw failure("an invalid number") }
            }
            guard position - start <= 64, let value = Double(try utf8(start..<position)), value.isFinite else {
                throw failure("an invalid number")
            }
            return .number(value)
        }

        @discardableResult
        mutating func skipDigits() -> Int {
            let start = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
            return position - start
        }

        func utf8(_ range: Range<Int>) throws(Failure) -> String {
            guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
                throw failure("a string that is not UTF-8")
            }
            return text
        }
    }
}
