import AzureCore
package import Logging
package import MixedRealityAuthentication
import Synchronization
package import TokenSidecar

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// A token source that answers from a script: each call asks `answer` what to return, given the
/// clock's time and the number of the call. It counts the calls.
package final class ScriptedTokenSource: TokenSource, Sendable {
    package typealias Answer = @Sendable (_ now: Date, _ call: Int) -> Result<MixedRealityTokenResponse, any Error>

    private let clock: any WallClock
    private let answer: Answer
    private let calls = Mutex(0)

    package init(clock: any WallClock, answer: @escaping Answer) {
        self.clock = clock
        self.answer = answer
    }

    /// How many exchanges were asked for.
    package var callCount: Int { calls.withLock { $0 } }

    package func token(logger: Logger) async throws -> ExchangedToken {
        let call = calls.withLock { calls -> Int in
            calls += 1
            return calls
        }
        return ExchangedToken(response: try answer(clock.now.date, call).get())
    }

    /// A JWT as the STS issues it (unsigned: nothing here verifies signatures), for `accountId`,
    /// issued at `issuedAt` and living `lifetime`.
    /// A JWT shaped like the STS's; `accountId: nil` leaves the `aid` claim out.
    package static func token(accountId: String?, issuedAt: Date, lifetime: TimeInterval, nonce: Int = 0) -> String {
        let iat = Int64(issuedAt.timeIntervalSince1970)
        let header: JSONValue = ["alg": "RS256", "typ": "JWT"]
        var claims: [String: JSONValue] = [
            "iat": .number(Double(iat)), "exp": .number(Double(iat + Int64(lifetime))),
            "jti": .string("scripted-\(nonce)"),
        ]
        if let accountId { claims["aid"] = .string(accountId) }
        return Base64URL.encode(header.encoded()) + "." + Base64URL.encode(JSONValue.object(claims).encoded()) + "."
            + Base64URL.encode(Array("signature".utf8))
    }

    /// An exchange's outcome carrying `token` (no key file), as a token source returns it.
    package static func exchanged(_ token: String) -> ExchangedToken {
        ExchangedToken(response: response(token))
    }

    /// A response carrying `token`, with correlation ids as the STS sends them.
    package static func response(_ token: String) -> MixedRealityTokenResponse {
        let expiry = (try? JWTExpiry.expiry(of: token)) ?? Date.distantPast
        return MixedRealityTokenResponse(
            accessToken: AccessToken(token: token, expiresOn: expiry), correlationVector: "scripted-cv",
            msCV: "scripted-ms-cv", tries: 1)
    }
}
