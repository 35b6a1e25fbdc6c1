import AzureCore
import Foundation
import Synchronization
import Testing

@testable import AzureIdentity

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: @Sendable () -> Date { { [self] in current.withLock { $0 } } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    var date: Date { current.withLock { $0 } }
}

/// A fetch that counts calls and answers as told.
final class ScriptedFetch: Sendable {
    struct Failure: Error {}
    let calls = Mutex(0)
    let clock: ManualClock
    let lifetime: TimeInterval
    let fail = Mutex(false)
    let refreshIn = Mutex<TimeInterval?>(nil)

    init(clock: ManualClock, lifetime: TimeInterval = 3600) {
        self.clock = clock
        self.lifetime = lifetime
    }

    var fetch: @Sendable () async throws -> AccessToken {
        { [self] in
            let call = calls.withLock {
                $0 += 1
                return $0
            }
            if fail.withLock({ $0 }) { throw Failure() }
            let now = clock.date
            return AccessToken(
                token: "token-\(call)", expiresOn: now.addingTimeInterval(lifetime),
                refreshOn: refreshIn.withLock { $0 }.map { now.addingTimeInterval($0) })
        }
    }
    var count: Int { calls.withLock { $0 } }
}

@Suite("Token cache (manual clock)")
struct TokenCacheTests {
    @Test("a token is reused until 5 minutes before expiry")
    func refreshOffset() async throws {
        let clock = ManualClock()
        let cache = TokenCache(now: clock.now)
        let fetch = ScriptedFetch(clock: clock)
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-1")
        clock.advance(3600 - 301)
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-1")
        clock.advance(2)
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-2")
        #expect(fetch.count == 2)
        #expect(try await cache.token(for: "other", fetch: fetch.fetch).token == "token-3")
    }

    @Test("refresh_in sets the refresh point")
    func refreshIn() async throws {
        let clock = ManualClock()
        let cache = TokenCache(now: clock.now)
        let fetch = ScriptedFetch(clock: clock)
        fetch.refreshIn.withLock { $0 = 600 }
        _ = try await cache.token(for: "k", fetch: fetch.fetch)
        clock.advance(599)
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-1")
        clock.advance(2)
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-2")
    }

    @Test("a failed proactive refresh serves the cached token and waits 30 s before trying again")
    func failedRefreshKeepsToken() async throws {
        let clock = ManualClock()
        let cache = TokenCache(now: clock.now)
        let fetch = ScriptedFetch(clock: clock)
        _ = try await cache.token(for: "k", fetch: fetch.fetch)
        clock.advance(3600 - 120)
        fetch.fail.withLock { $0 = true }
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-1")
        #expect(fetch.count == 2)
        clock.advance(10)
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-1")
        #expect(fetch.count == 2, "no new attempt within 30 s")
        clock.advance(25)
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-1")
        #expect(fetch.count == 3)
        clock.advance(200)
        await #expect(throws: ScriptedFetch.Failure.self) { try await cache.token(for: "k", fetch: fetch.fetch) }
        fetch.fail.withLock { $0 = false }
        #expect(try await cache.token(for: "k", fetch: fetch.fetch).token == "token-5")
    }

    @Test("50 concurrent callers share one fetch")
    func singleFlight() async throws {
        let clock = ManualClock()
        let cache = TokenCache(now: clock.now)
        let gate = AsyncStream<Void>.makeStream()
        let calls = Counter()
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await cache.token(for: "k") {
                        calls.increment()
                        for await _ in gate.stream { break }
                        return AccessToken(token: "shared", expiresOn: clock.date.addingTimeInterval(3600))
                    }.token
                }
            }
            // Let every caller reach the cache before the one fetch completes.
            while calls.value == 0 { await Task.yield() }
            for _ in 0..<100 { await Task.yield() }
            gate.continuation.yield()
            gate.continuation.finish()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(tokens.count == 50 && Set(tokens) == ["shared"])
        #expect(calls.value == 1)
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
