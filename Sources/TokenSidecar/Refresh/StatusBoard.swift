#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// What `/status` says of an account.
struct AccountStatus: Sendable, Encodable {
    enum State: String, Sendable, Encodable, CaseIterable {
        /// A valid token is on disk and the last attempt (if any) succeeded.
        case fresh
        /// An exchange is in flight.
        case refreshing
        /// The last attempt failed; the token on disk is still valid.
        case stale
        /// The last attempt failed and the token on disk has expired.
        case expired
        /// The last attempt failed and there is no token yet.
        case failing
    }

    struct LastError: Sendable, Encodable {
        var kind: String
        var message: String
        var httpStatus: Int?
        var correlationVector: String?
        var msCV: String?
        var at: String
    }

    var name: String
    var accountId: String
    var output: String
    var state: State
    var expiresOn: String?
    var lastRefresh: String?
    var nextAttempt: String?
    var consecutiveFailures: Int
    var lastError: LastError?
}

/// The state of every account, shared by the refresh loops and the probe server.
final class StatusBoard: Sendable {
    struct Entry: Sendable {
        var status: AccountStatus
        var expiresOn: Date?
        var inFlight: Bool
        var lastAttemptFailed: Bool
    }

    private let entries = Mutex<[String: Entry]>([:])

    func update(_ name: String, _ change: (inout Entry) -> Void) {
        entries.withLock { entries in
            guard var entry = entries[name] else { return }
            change(&entry)
            entry.status.state = Self.state(of: entry, now: Date())
            entries[name] = entry
        }
    }

    func register(name: String, accountId: String, output: String) {
        entries.withLock {
            $0[name] = Entry(
                status: AccountStatus(
                    name: name, accountId: accountId, output: output, state: .refreshing, consecutiveFailures: 0),
                expiresOn: nil, inFlight: true, lastAttemptFailed: false)
        }
    }

    func remove(_ name: String) {
        _ = entries.withLock { $0.removeValue(forKey: name) }
    }

    static func state(of entry: Entry, now: Date) -> AccountStatus.State {
        if entry.inFlight { return .refreshing }
        let valid = entry.expiresOn.map { $0 > now } ?? false
        if !entry.lastAttemptFailed { return valid ? .fresh : (entry.expiresOn == nil ? .failing : .expired) }
        if valid { return .stale }
        return entry.expiresOn == nil ? .failing : .expired
    }

    /// Every account's status, by name, with states computed for `now`.
    func snapshot(now: Date = Date()) -> [AccountStatus] {
        entries.withLock { entries in
            entries.values.map { entry in
                var status = entry.status
                status.state = Self.state(of: entry, now: now)
                return status
            }.sorted { $0.name < $1.name }
        }
    }

    /// The accounts whose token is not valid for at least `validity` more.
    func notReady(now: Date, validity: TimeInterval) -> [String] {
        entries.withLock { entries in
            entries.filter { _, entry in
                guard let expiry = entry.expiresOn else { return true }
                return expiry.timeIntervalSince(now) < validity
            }.keys.sorted()
        }
    }

    var isEmpty: Bool { entries.withLock { $0.isEmpty } }
}
