package import AzureCore
import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// The token cache of every credential.
///
/// A token is reused until its refresh point: `refresh_in` when the issuer gave one, otherwise
/// five minutes before expiry (managed identity tokens living over two hours refresh at
/// half-life, set by the credential through `refreshOn`). Concurrent callers share one request
/// in flight. When a refresh fails while the cached token is still valid, the cached token is
/// served and the next refresh is tried no sooner than 30 seconds later.
package final class TokenCache: Sendable {
    package static let refreshOffset: TimeInterval = 300
    package static let refreshRetryDelay: TimeInterval = 30

    private struct Entry {
        var token: AccessToken?
        var lastFailure: Date?
        var inFlight: Task<AccessToken, any Error>?
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let now: @Sendable () -> Date

    package init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// When a token should be replaced.
    package static func refreshPoint(of token: AccessToken) -> Date {
        token.refreshOn ?? token.expiresOn.addingTimeInterval(-refreshOffset)
    }

    /// The cached token for `key`, or a new one from `fetch` (one fetch at a time per key).
    package func token(
        for key: String, fetch: @escaping @Sendable () async throws -> AccessToken
    ) async throws -> AccessToken {
        enum Step {
            case use(AccessToken)
            case await(Task<AccessToken, any Error>)
        }
        let step = entries.withLock { entries -> Step in
            let current = now()
            var entry = entries[key] ?? Entry()
            if let token = entry.token, current < Self.refreshPoint(of: token) { return .use(token) }
            if let task = entry.inFlight { return .await(task) }
            if let token = entry.token, current < token.expiresOn, let failed = entry.lastFailure,
                current.timeIntervalSince(failed) < Self.refreshRetryDelay
            {
                return .use(token)
            }
            let task = Task { try await fetch() }
            entry.inFlight = task
            entries[key] = entry
            return .await(task)
        }
        switch step {
        case .use(let token):
            return token
        case .await(let task):
            let result = await task.result
            return try entries.withLock { entries -> AccessToken in
                var entry = entries[key] ?? Entry()
                if entry.inFlight == task { entry.inFlight = nil }
                switch result {
                case .success(let token):
                    entry.lastFailure = nil
                    if entry.token.map({ $0.expiresOn <= token.expiresOn }) ?? true { entry.token = token }
                    entries[key] = entry
                    return token
                case .failure(let error):
                    entry.lastFailure = now()
                    entries[key] = entry
                    if let cached = entry.token, now() < cached.expiresOn { return cached }
                    throw error
                }
            }
        }
    }
}

extension TokenRequestContext {
    var cacheKey: String {
        "\(tenantId ?? "")|\(claims ?? "")|\(scopes.sorted().joined(separator: " "))"
    }
}
