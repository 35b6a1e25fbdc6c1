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
        // Over contiguous bytes, not through the generic UTF-8 view: this generic is not
        // specialized across modules, and a per-byte call through it made decoding a token's
        // payload most of the cost of reading its expiry (1,000 accounts at start).
        if let decoded = text.utf8.withContiguousStorageIfAvailable({ decode(bytes: $0) }) { return decoded }
        return Array(text.utf8).withUnsafeBufferPointer { decode(bytes: $0) }
    }

    /// The values of the base64 alphabets' bytes (both), 0xFF for any other byte, 0xFE for `=`.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "+"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        table[Int(UInt8(ascii: "/"))] = 63
        table[Int(UInt8(ascii: "="))] = 0xFE
        return table
    }()

    private static func decode(bytes: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var count = 0
        var padding = 0
        var sawURLAlphabet = false
        var sawStandardAlphabet = false
        values.withUnsafeBufferPointer { values in
            for byte in bytes {
                let value = values[Int(byte)]
                if value == 0xFE {
                    padding += 1
                    continue
                }
                guard value != 0xFF, padding == 0 else {  // not base64, or data after padding
                    count = -1
                    return
                }
                switch byte {
                case UInt8(ascii: "-"), UInt8(ascii: "_"): sawURLAlphabet = true
                case UInt8(ascii: "+"), UInt8(ascii: "/"): sawStandardAlphabet = true
                default: break
                }
                accumulator = (accumulator << 6) | UInt32(value)
                bits += 6
                count += 1
                if bits >= 8 {
                    bits -= 8
                    output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                    accumulator &= (1 << UInt32(bits)) - 1
                }
            }
        }
        guard count >= 0 else { return nil }
        if sawURLAlphabet && sawStandardAlphabet { return nil }
        guard padding <= 2, count % 4 != 1 else { return nil }
        if padding > 0 && (count + padding) % 4 != 0 { return nil }
        return output
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes bytes as unpadded base64url.
    package static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let block = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            for shift in [18, 12, 6, 0] as [UInt32] { output.append(alphabet[Int((block >> shift) & 63)]) }
            index += 3
        }
        switch input.count - index {
        case 2:
            let block = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            for shift in [18, 12, 6] as [UInt32] { output.append(alphabet[Int((block >> shift) & 63)]) }
        case 1:
            let block = UInt32(input[index]) << 16
            for shift in [18, 12] as [UInt32] { output.append(alphabet[Int((block >> shift) & 63)]) }
        default: break
        }
        return String(decoding: output, as: UTF8.self)
    }
}
