package import AzureCore
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
            return Array(
                "MIXED_REALITY_ACCESS_TOKEN=\(token.token)\nMIXED_REALITY_TOKEN_EXPIRES_ON=\(rfc3339(token.expiresOn))\n"
                    .utf8)
        }
    }

    /// The token in a file's content, or `nil` when the content is not a file of this format.
    package static func token(in bytes: [UInt8], format: OutputConfiguration.Format) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        switch format {
        case .token:
            let token = text.trimmed
            return token.isEmpty ? nil : token
        case .json:
            return JSON.decode(JSONFile.self, from: bytes)?.accessToken
        case .env:
            for line in text.split(separator: "\n") where line.hasPrefix("MIXED_REALITY_ACCESS_TOKEN=") {
                return String(line.dropFirst("MIXED_REALITY_ACCESS_TOKEN=".count))
            }
            return nil
        }
    }

    package static func rfc3339(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
