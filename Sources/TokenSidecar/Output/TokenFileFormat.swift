package import AzureCore
import MixedRealityTokenFile
package import SidecarConfig

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// What goes into an output file, and how a token is read back from one.
package enum TokenFileFormat {
    struct JSONFile: Codable {
        var accessToken: String
        var expiresOn: String
        var expiresOnTimestamp: Int64
        var accountId: String
        var accountDomain: String
        var refreshedAt: String
    }

    package static func render(
        _ token: AccessToken, format: OutputConfiguration.Format, accountId: String, accountDomain: String,
        refreshedAt: Date
    ) -> [UInt8] {
        switch format {
        case .token:
            return Array(token.token.utf8)
        case .json:
            let file = JSONFile(
                accessToken: token.token, expiresOn: rfc3339(token.expiresOn),
                expiresOnTimestamp: Int64((token.expiresOn.timeIntervalSince1970 * 1000).rounded()),
                accountId: accountId, accountDomain: accountDomain, refreshedAt: rfc3339(refreshedAt))
            return JSON.encode(file) + [UInt8(ascii: "\n")]
        case .env:
            // Single-quoted: sourcing the file (`. token.env`) assigns and never runs anything,
            // whatever a value holds (TokenFileGrammar; docs/config.md).
            return Array(
                ("\(TokenFileGrammar.tokenVariable)=\(TokenFileGrammar.quoted(token.token))\n"
                    + "\(TokenFileGrammar.expiryVariable)=\(TokenFileGrammar.quoted(rfc3339(token.expiresOn)))\n").utf8)
        }
    }

    /// The token in a file's content in `format` (``TokenFileGrammar``, the app side's grammar),
    /// or `nil` when it holds none.
    package static func token(in bytes: [UInt8], format: OutputConfiguration.Format) -> String? {
        let grammar: TokenFileGrammar.Format =
            switch format {
            case .token: .token
            case .json: .json
            case .env: .env
            }
        return TokenFileGrammar.token(in: String(decoding: bytes, as: UTF8.self), format: grammar)
    }

    package static func rfc3339(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

/// The shape a token must have before it may reach a file an application reads: a compact JWS of
/// three non-empty base64url segments (`[A-Za-z0-9_-]`), at most 16 KiB in all. Nothing else (a
/// fourth part, `;`, `$(...)`, a quote, a newline, a control character) is written, whatever the
/// STS answered. Real Mixed Reality tokens are about 1.2 KiB.
package enum TokenShape {
    package static let maximumLength = 16 * 1024

    /// Why `token` must not be written, or `nil` when it has the shape of a JWT.
    package static func problem(_ token: String) -> String? {
        guard token.utf8.count <= maximumLength else {
            return "it is longer than \(maximumLength / 1024) KiB"
        }
        var segments = 1
        var segmentLength = 0
        for byte in token.utf8 {
            switch byte {
            case UInt8(ascii: "."):
                guard segmentLength > 0 else { return "it has an empty part" }
                segments += 1
                segmentLength = 0
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                segmentLength += 1
            default:
                return "it holds a character that is not base64url (byte 0x\(String(byte, radix: 16)))"
            }
        }
        guard segmentLength > 0 else { return "it has an empty part" }
        guard segments == 3 else { return "it has \(segments) dot-separated parts, a JWT has 3" }
        return nil
    }
}
