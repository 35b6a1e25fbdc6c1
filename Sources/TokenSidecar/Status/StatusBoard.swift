import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// The latest snapshot of every account, published by the state machines and read by the probe
/// server. It holds no state of its own beyond the snapshots.
package final class StatusBoard: Sendable {
    private let snapshots = Mutex<[String: AccountSnapshot]>([:])

    package init() {}

    /// Replaces an account's snapshot.
    package func publish(_ snapshot: AccountSnapshot) {
        snapshots.withLock { $0[snapshot.name] = snapshot }
    }

    /// Forgets an account (removed from the config).
    package func remove(_ name: String) {
        _ = snapshots.withLock { $0.removeValue(forKey: name) }
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
