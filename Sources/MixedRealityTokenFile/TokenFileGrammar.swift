import AzureCore

/// The grammar of the sidecar's token files, one for the writer (the sidecar) and every reader
/// (``TokenFileCredential``, the sidecar's adoption of the file it finds at start), tested against
/// one set of vectors (`Tests/Fixtures/token-file-grammar.json`, which the readers in other
/// languages are checked against too). docs/consuming-tokens.md describes it.
///
/// - `token`: the JWT alone, surrounding white space ignored.
/// - `json`: an object whose `accessToken` is the JWT.
/// - `env`: lines `NAME=value` for a POSIX shell; the token is the value of the first
///   `MIXED_REALITY_ACCESS_TOKEN=` line, single-quoted (a quote inside written `'\''`) or bare.
///
/// What is read is a token only when it has three dot-separated parts and no white space.
package enum TokenFileGrammar {
    package enum Format: Sendable, CaseIterable {
        case token, json, env
    }

    /// The variable of the token in the `env` format.
    package static let tokenVariable = "MIXED_REALITY_ACCESS_TOKEN"
    /// The variable of its expiry (RFC 3339).
    package static let expiryVariable = "MIXED_REALITY_TOKEN_EXPIRES_ON"

    /// The format of a file's text: a JSON object, `MIXED_REALITY_ACCESS_TOKEN=` lines, or the JWT.
    package static func format(of text: String) -> Format {
        let trimmed = text.trimmed
        if trimmed.hasPrefix("{") { return .json }
        return trimmed.contains(tokenVariable + "=") ? .env : .token
    }

    /// The token in a file's text in `format`, or `nil` when it holds none.
    package static func token(in text: String, format: Format) -> String? {
        let trimmed = text.trimmed
        let token: String?
        switch format {
        case .token:
            token = trimmed
        case .json:
            token = JSON.decode(JSONValue.self, from: Array(trimmed.utf8))?["accessToken"]?.string
        case .env:
            token = trimmed.split(separator: "\n").first { $0.hasPrefix(tokenVariable + "=") }.map {
                unquoted(String($0.dropFirst(tokenVariable.count + 1)))
            }
        }
        guard let token, token.split(separator: ".", omittingEmptySubsequences: false).count == 3,
            !token.contains(where: \.isWhitespace)
        else { return nil }
        return token
    }

    /// `value` in single quotes for a POSIX shell: sourcing the file assigns it and never runs
    /// anything, whatever it holds; a quote inside becomes `'\''`.
    package static func quoted(_ value: String) -> String {
        "'" + value.replacing("'", with: "'\\''") + "'"
    }

    /// A value of the `env` format: single-quoted (`'\''` is a quote), or bare.
    package static func unquoted(_ value: String) -> String {
        guard value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 else { return value }
        return String(value.dropFirst().dropLast()).replacing("'\\''", with: "'")
    }
}
