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
        var normalized = ""
        normalized.reserveCapacity(text.utf8.count + 3)
        var sawURLAlphabet = false
        var sawStandardAlphabet = false
        var padding = 0
        for scalar in text.unicodeScalars {
            switch scalar {
            case "=":
                padding += 1
                continue
            case "-":
                normalized.append("+")
                sawURLAlphabet = true
            case "_":
                normalized.append("/")
                sawURLAlphabet = true
            case "+", "/":
                normalized.unicodeScalars.append(scalar)
                sawStandardAlphabet = true
            case "A"..."Z", "a"..."z", "0"..."9":
                normalized.unicodeScalars.append(scalar)
            default:
                return nil
            }
            if padding > 0 { return nil }  // data after padding
        }
        if sawURLAlphabet && sawStandardAlphabet { return nil }
        let length = normalized.utf8.count
        guard padding <= 2, length % 4 != 1 else { return nil }
        if padding > 0 && (length + padding) % 4 != 0 { return nil }
        while normalized.utf8.count % 4 != 0 { normalized.append("=") }
        return Data(base64Encoded: normalized).map(Array.init)
    }

    /// Encodes bytes as unpadded base64url.
    package static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return String(text.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }
}
