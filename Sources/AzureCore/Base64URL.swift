#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// base64url and base64 coding for JWTs.
package enum Base64URL {
    /// Decodes base64url or standard base64, padded or not; `nil` for anything else (including a
    /// mix of the two alphabets).
    package static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        // Byte by byte, without building a normalized string: the sidecar parses each token it
        // gets and each file it adopts (1,000 accounts at start).
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var count = 0
        var padding = 0
        var sawURLAlphabet = false
        var sawStandardAlphabet = false
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "="):
                padding += 1
                continue
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"):
                value = 62
                sawURLAlphabet = true
            case UInt8(ascii: "+"):
                value = 62
                sawStandardAlphabet = true
            case UInt8(ascii: "_"):
                value = 63
                sawURLAlphabet = true
            case UInt8(ascii: "/"):
                value = 63
                sawStandardAlphabet = true
            default:
                return nil
            }
            if padding > 0 { return nil }  // data after padding
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            count += 1
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        if sawURLAlphabet && sawStandardAlphabet { return nil }
        guard padding <= 2, count % 4 != 1 else { return nil }
        if padding > 0 && (count + padding) % 4 != 0 { return nil }
        return output
    }

    /// Encodes bytes as unpadded base64url.
    package static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }
}
