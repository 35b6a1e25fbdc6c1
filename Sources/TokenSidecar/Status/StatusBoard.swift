import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// The latest snapshot of every account, published by the state machines and read by the probe
/// server, the metrics at each scrape and the read tracker: the only copy of an account's state.
package final class StatusBoard: Sendable {
    private let snapshots = Mutex<[String: AccountSnapshot]>([:])
    private let routes = Mutex<[String: String]>([:])

    /// Where the configuration in use sends secrets (``SidecarConfiguration/secretRoutes``), for
    /// `/status`: `doctor` compares the file with it.
    package var secretRoutes: [String: String] {
        get { routes.withLock { $0 } }
        set { routes.withLock { $0 = newValue } }
    }

    package init() {}

    /// Replaces an account's snapshot.
    package func publish(_ snapshot: AccountSnapshot) {
        snapshots.withLock { $0[snapshot.name] = snapshot }
    }

    /// Forgets an account (removed from the config).
    package func remove(_ name: String) {
        _ = snapshots.withLock { $0.removeValue(forKey: name) }
    }

    /// An account's snapshot.
    package func snapshot(_ name: String) -> AccountSnapshot? {
        snapshots.withLock { $0[name] }
    }

    /// Every account's snapshot, by name.
    package var all: [AccountSnapshot] {
        snapshots.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }

    /// The accounts whose token is not valid for at least `validity` more.
    package func notReady(now: Date, validity: TimeInterval) -> [String] {
        snapshots.withLock { snapshots in
            snapshots.values.filter { snapshot in
                guard let expiry = snapshot.expiresOn else { return true }
                return expiry.timeIntervalSince(now) < validity
            }.map(\.name).sorted()
        }
    }

    /// Whether no account is published.
    package var isEmpty: Bool { snapshots.withLock { $0.isEmpty } }
}
