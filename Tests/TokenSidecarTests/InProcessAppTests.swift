import AzureCore
import DaemonSupport
import Foundation
import Logging
import MixedRealityAuthentication
import NIOHTTP1
import SidecarConfig
import Synchronization
import TestSupport
import Testing
import TokenSidecarTesting

@testable import TokenSidecar

/// Scripted token sources for every account of a config: fresh tokens from the clock's time, or a
/// 503 while `failing` is set.
final class ScriptedTokenSources: TokenSourceFactory {
    let clock: ManualClock
    let lifetime: TimeInterval
    private let failing = Mutex(false)
    private let made = Mutex<[String: ScriptedTokenSource]>([:])

    init(clock: ManualClock, lifetime: TimeInterval = 86400) {
        self.clock = clock
        self.lifetime = lifetime
    }

    /// Makes every exchange fail (a 503) from now on, or succeed again.
    func fail(_ value: Bool) { failing.withLock { $0 = value } }

    /// The exchanges asked of an account's source.
    func calls(_ account: String) -> Int { made.withLock { $0[account]?.callCount ?? 0 } }

    func tokenSource(for account: AccountConfiguration) throws -> any TokenSource {
        let accountId = account.accountId.value
        let source = ScriptedTokenSource(clock: clock) { [self] now, call in
            if failing.withLock({ $0 }) {
                return .failure(
                    MixedRealityAuthenticationError(
                        .serviceError, "the STS answered 503", httpStatus: 503, isRetriable: true))
            }
            return .success(
                ScriptedTokenSource.response(
                    ScriptedTokenSource.token(accountId: accountId, issuedAt: now, lifetime: lifetime, nonce: call)))
        }
        made.withLock { $0[account.name.value] = source }
        return source
    }

    func retain(_ accounts: [AccountConfiguration]) {}
}

/// The whole app (refresh loops, probe server, metrics, read tracker) in this process, under
/// `withService` as Hummingbird's `app.test(.live)` runs an application: its clock is a manual
/// one, its sink in memory, its token sources scripted; `/status` and `/metrics` over real HTTP.
@Suite("The sidecar app in-process, on a manual clock")
struct InProcessAppTests {
    @Test(
        "adopt nothing, exchange, serve /status and /metrics; the clock moves to the refresh point and past the expiry while the STS fails: both say expired at once"
    )
    func appOnManualClock() async throws {
        let clock = ManualClock()
        let sink = InMemorySink()
        let sources = ScriptedTokenSources(clock: clock)
        let yaml = """
            server: {address: "127.0.0.1:0"}
            refresh: {at: 0.5, jitter: 0}
            accounts:
              - name: anchors
                accountId: 6a8b0c3e-1111-4222-8333-944455556666
                accountDomain: eastus2.mixedreality.azure.com
                credential: {type: accountKey, keyFile: /etc/mr/key}
                output: {path: /var/run/mixedreality-in-process/anchors.token}
            """
        let configuration = try ConfigLoader.parse(yaml, file: "in-process.yaml", environment: [:])
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let app = try SidecarApp.build(
            configuration: configuration, configPath: nil, environment: [:], version: "test",
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), levelBox: LogLevelBox(.info),
            clock: clock, sink: sink, tokenSources: sources, onListening: { listening.yield($0) })
        let path = "/var/run/mixedreality-in-process/anchors.token"
        try await withService(app) {
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            // The first token is written, then the loop sleeps until its refresh point.
            await clock.waitForSleepers(1)
            let first = try #require(sink.contents(path).map { String(decoding: $0, as: UTF8.self) })
            #expect(try JWTExpiry.claims(of: first).accountId == "6a8b0c3e-1111-4222-8333-944455556666")
            let status = try await rawRequest(.GET, "http://127.0.0.1:\(port)/status", caFile: nil).json()
            let account = try #require((status["accounts"] as? [[String: Any]])?.first)
            #expect(account["state"] as? String == "fresh")
            #expect(
                try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil).text.contains(
                    #"mr_token_state{account="anchors",state="fresh"} 1.0"#))
            #expect(try await rawRequest(.GET, "http://127.0.0.1:\(port)/readyz", caFile: nil).status == 200)

            // Half the lifetime later, the refresh: a new token.
            clock.advance(by: .seconds(43_200))
            await clock.waitForSleepers(1)
            #expect(sources.calls("anchors") == 2)
            #expect(sink.writes == 2)

            // The STS fails from now on; past the token's expiry both /status and the metrics say
            // expired, with no event in between.
            sources.fail(true)
            let expiry = try JWTExpiry.claims(of: String(decoding: sink.contents(path)!, as: UTF8.self)).expiresOn
            clock.advance(to: ManualClock.Instant(expiry.addingTimeInterval(1)))
            await clock.waitForSleepers(1)
            clock.advance(to: ManualClock.Instant(expiry.addingTimeInterval(2)))
            let expired = try await rawRequest(.GET, "http://127.0.0.1:\(port)/status", caFile: nil).json()
            #expect((expired["accounts"] as? [[String: Any]])?.first?["state"] as? String == "expired")
            #expect(
                try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil).text.contains(
                    #"mr_token_state{account="anchors",state="expired"} 1.0"#))
            #expect(try await rawRequest(.GET, "http://127.0.0.1:\(port)/readyz", caFile: nil).status == 503)
        }
    }
}
