public import AzureCore
public import Logging
import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The Mixed Reality STS as a ``TokenCredential``, as the .NET and Python SDKs' shared
/// `MixedRealityTokenCredential`: clients of the Mixed Reality services (Spatial Anchors, Remote
/// Rendering) take one credential, and this one exchanges the account's credential for a Mixed
/// Reality token, keeps it until shortly before it expires, and lets concurrent callers share one
/// exchange. The scopes of the request are ignored: the token is the account's.
public final class MixedRealityTokenCredential: MixedRealityTokenSource, CustomStringConvertible {
    private enum State {
        case empty
        case cached(AccessToken)
        case refreshing(Task<AccessToken, any Error>)
    }

    private let client: MixedRealityStsClient
    private let refreshMargin: TimeInterval
    private let now: @Sendable () -> Date
    private let state = Mutex(State.empty)

    /// - Parameters:
    ///   - client: The STS client of the account.
    ///   - refreshMargin: How long before expiry a cached token is replaced (default 5 minutes).
    ///   - now: The clock (tests pass their own).
    public init(
        client: MixedRealityStsClient, refreshMargin: Duration = .seconds(300),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.client = client
        self.refreshMargin = refreshMargin.seconds
        self.now = now
    }

    /// The credential of an account, as the SDKs' `GetMixedRealityCredential`: a credential of
    /// Mixed Reality tokens (``MixedRealityTokenSource``: a ``StaticTokenCredential``, the sidecar's
    /// token file) passes through as it is; any other credential is exchanged at the account's STS.
    /// - Throws: ``MixedRealityAuthenticationError`` (`invalidArgument`) for a bad account id,
    ///   domain or endpoint.
    public static func credential(
        accountId: String, accountDomain: String, credential: any TokenCredential,
        options: MixedRealityStsClientOptions = MixedRealityStsClientOptions()
    ) throws -> any TokenCredential {
        if let ready = credential as? any MixedRealityTokenSource { return ready }
        return MixedRealityTokenCredential(
            client: try MixedRealityStsClient(
                accountId: accountId, accountDomain: accountDomain, credential: credential, options: options))
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        let now = now()
        let (cached, task) = state.withLock { state -> (AccessToken?, Task<AccessToken, any Error>?) in
            switch state {
            case .cached(let token) where token.expiresOn.timeIntervalSince(now) > refreshMargin:
                return (token, nil)
            case .refreshing(let task):
                return (nil, task)
            case .empty, .cached:
                let task = Task { [client] in try await client.getToken(logger: logger) }
                state = .refreshing(task)
                return (nil, task)
            }
        }
        if let cached { return cached }
        guard let task else { throw CancellationError() }
        do {
            let token = try await task.value
            state.withLock { $0 = .cached(token) }
            return token
        } catch {
            // The next call tries again.
            state.withLock { state in
                if case .refreshing = state { state = .empty }
            }
            throw error
        }
    }

    public var description: String {
        "MixedRealityTokenCredential(accountId: \(client.accountId), endpoint: \(client.endpointURL.absoluteString))"
    }
}
