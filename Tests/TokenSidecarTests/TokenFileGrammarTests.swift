import Foundation
import MixedRealityAuthentication
import SidecarConfig
import Testing
import TokenSidecarTesting

@testable import MixedRealityTokenFile
@testable import TokenSidecar

/// One grammar for the token files: the sidecar's reader (what it adopts at start) and the app
/// side's `TokenFileCredential` against the same vectors, which the readers in other languages are
/// checked against too (Tests/python/test_readers.py).
@Suite("The token-file grammar: one set of vectors")
struct TokenFileGrammarTests {
    struct Vector: Decodable {
        var name: String
        var format: String
        var content: String
        var token: String?
    }

    static func vectors() throws -> [Vector] {
        struct File: Decodable { var vectors: [Vector] }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "Fixtures/token-file-grammar.json")
        let token = ScriptedTokenSource.token(
            accountId: "6a8b0c3e-1111-4222-8333-944455556666", issuedAt: Date(), lifetime: 86400)
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).vectors.map { vector in
            var vector = vector
            vector.content = vector.content.replacing("{TOKEN}", with: token)
            vector.token = vector.token?.replacing("{TOKEN}", with: token)
            return vector
        }
    }

    @Test("TokenFileCredential and the sidecar read each vector alike, in its format and told apart by content")
    func vectorsReadAlike() throws {
        let vectors = try Self.vectors()
        #expect(vectors.count >= 20)
        for vector in vectors {
            let credentialFormat: TokenFileCredential.Format =
                switch vector.format {
                case "token": .token
                case "json": .json
                case "env": .env
                default: .automatic
                }
            #expect(
                TokenFileCredential.token(in: vector.content, format: credentialFormat) == vector.token,
                "TokenFileCredential: \(vector.name)")
            let sidecarFormat: OutputConfiguration.Format? =
                switch vector.format {
                case "token": .token
                case "json": .json
                case "env": .env
                default: nil
                }
            if let sidecarFormat {
                #expect(
                    TokenFileFormat.token(in: Array(vector.content.utf8), format: sidecarFormat) == vector.token,
                    "the sidecar: \(vector.name)")
            }
        }
    }

    @Test("what the sidecar writes in each format reads back as its token")
    func writtenReadsBack() throws {
        let token = ScriptedTokenSource.token(
            accountId: "6a8b0c3e-1111-4222-8333-944455556666", issuedAt: Date(), lifetime: 86400)
        let access = ScriptedTokenSource.response(token).accessToken
        for format in [OutputConfiguration.Format.token, .json, .env] {
            let bytes = TokenFileFormat.render(
                access, format: format, accountId: "6a8b0c3e-1111-4222-8333-944455556666",
                accountDomain: "eastus2.mixedreality.azure.com", refreshedAt: Date())
            #expect(TokenFileFormat.token(in: bytes, format: format) == token)
            #expect(TokenFileCredential.token(in: String(decoding: bytes, as: UTF8.self), format: .automatic) == token)
        }
        #expect(TokenFileGrammar.unquoted(TokenFileGrammar.quoted("it's")) == "it's")
    }
}
