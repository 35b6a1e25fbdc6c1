import Synchronization

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// What other parts than the state machine know of an account: the key file in use (key
/// rotation) and the application's reads of the token (the read tracker).
package struct AccountActivity: Sendable, Equatable {
    /// The account key file in use, and its position in `keyFiles`.
    package var keyFile: String?
    package var keyIndex: Int?
    /// When a token file of the account was last written by the sidecar.
    package var lastWrite: Date?
    /// When one of them was last opened by another process.
    package var lastRead: Date?

    package init() {}

    /// Whether the token written last has been read since.
    package var readSinceWrite: Bool? {
        guard let lastWrite else { return lastRead.map { _ in true } }
        return (lastRead ?? .distantPast) >= lastWrite
    }
}

/// The latest snapshot of every account, published by the state machines and read by the probe
/// server, and what the key rotation and the read tracker know of it.
package final class StatusBoard: Sendable {
    private let snapshots = Mutex<[String: AccountSnapshot]>([:])
    private let activities = Mutex<[String: AccountActivity]>([:])
    private let routes = Mutex<[String: String]>([:])

    /// Where the configuration in use sends secrets (``SidecarConfiguration/secretRoutes``), for
    /// `/status`: `doctor` compares the file with it.
    package var secretRoutes: [String: String] {
        get { routes.withLock { $0 } }
        set { routes.withLock { $0 = newValue } }
    }

    /// Changes what is known of an account's activity.
    package func updateActivity(_ name: String, _ body: (inout AccountActivity) -> Void) {
        activities.withLock { body(&$0[name, default: AccountActivity()]) }
    }

    /// What is known of an account's activity.
    package func activity(_ name: String) -> AccountActivity {
        activities.withLock { $0[name] ?? AccountActivity() }
    }

    package init() {}

    /// Replaces an account's snapshot.
    package func publish(_ snapshot: AccountSnapshot) {
        snapshots.withLock { $0[snapshot.name] = snapshot }
    }

    /// Forgets an account (removed from the config).
    package func remove(_ name: String) {
        _ = snapshots.withLock { $0.removeValue(forKey: name) }
        _ = activities.withLock { $0.removeValue(forKey: name) }
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
