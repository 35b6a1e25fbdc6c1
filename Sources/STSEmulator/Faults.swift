import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The emulator's endpoints, for fault targeting and the request log.
public enum EmulatorEndpoint: String, Sendable, Codable, Hashable, CaseIterable {
    /// The Mixed Reality STS (`GET /Accounts/{id}/token`).
    case sts
    /// The Entra v2 token endpoint (`POST /{tenant}/oauth2/v2.0/token`).
    case entra
    /// The managed identity endpoints (IMDS and App Service).
    case managedIdentity
    /// Anything else (unknown paths).
    case other
}

/// A misbehaviour to apply to the next answers of an endpoint.
///
/// JSON keys (all optional but `endpoint`): `endpoint` (`sts`, `entra`, `managedIdentity`, or
/// `any`), `count` (default 1), `status`, `retryAfter` (header value), `delayMs`, `body` (raw
/// body replacing the answer), `token` (`expired`, `notJWT`, `farFuture`), `dropConnection`,
/// `aadstsCode` (Entra error code, with `status` default 400). `token` also takes `shortLived`
/// (a valid token living 60 seconds), `issuedLongAgo` (issued a day ago, valid for another hour)
/// and `noAccountId` (a valid token without the `aid` claim).
public struct Fault: Sendable, Codable, Hashable {
    /// Which token a successful answer carries instead of a good one.
    public enum TokenKind: String, Sendable, Codable, Hashable {
        /// Already expired.
        case expired
        /// The literal `Sanitized`, not a JWT.
        case notJWT
        /// A JWT whose `exp` is in the year 9999.
        case farFuture
        /// A valid JWT that lives only 60 seconds (shorter than the configured lifetime).
        case shortLived
        /// A valid JWT issued a day ago that expires in an hour: past its refresh point already.
        case issuedLongAgo
        /// A valid JWT without the `aid` (account id) claim.
        case noAccountId
    }

    /// The endpoint (`nil` means any).
    public var endpoint: EmulatorEndpoint?
    /// How many answers it applies to.
    public var count: Int
    /// A status to answer with.
    public var status: Int?
    /// A `Retry-After` value to send.
    public var retryAfter: String?
    /// A delay before answering, in milliseconds.
    public var delayMs: Int?
    /// A raw body replacing the answer's body.
    public var body: String?
    /// A bad token in an otherwise successful answer.
    public var token: TokenKind?
    /// Close the connection instead of completing the answer.
    public var dropConnection: Bool?
    /// An Entra error code (AADSTS number) to answer with.
    public var aadstsCode: Int?

    /// Creates a fault.
    public init(
        endpoint: EmulatorEndpoint?, count: Int = 1, status: Int? = nil, retryAfter: String? = nil,
        delayMs: Int? = nil, body: String? = nil, token: TokenKind? = nil, dropConnection: Bool? = nil,
        aadstsCode: Int? = nil
    ) {
        self.endpoint = endpoint
        self.count = count
        self.status = status
        self.retryAfter = retryAfter
        self.delayMs = delayMs
        self.body = body
        self.token = token
        self.dropConnection = dropConnection
        self.aadstsCode = aadstsCode
    }

    private enum CodingKeys: String, CodingKey {
        case endpoint, count, status, retryAfter, delayMs, body, token, dropConnection, aadstsCode
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let endpointName = try container.decodeIfPresent(String.self, forKey: .endpoint) ?? "any"
        if endpointName == "any" {
            endpoint = nil
        } else if let value = EmulatorEndpoint(rawValue: endpointName) {
            endpoint = value
        } else {
            throw DecodingError.dataCorruptedError(
                forKey: .endpoint, in: container,
                debugDescription: "endpoint must be sts, entra, managedIdentity or any")
        }
        count = try container.decodeIfPresent(Int.self, forKey: .count) ?? 1
        status = try container.decodeIfPresent(Int.self, forKey: .status)
        retryAfter = try container.decodeIfPresent(String.self, forKey: .retryAfter)
        delayMs = try container.decodeIfPresent(Int.self, forKey: .delayMs)
        body = try container.decodeIfPresent(String.self, forKey: .body)
        token = try container.decodeIfPresent(TokenKind.self, forKey: .token)
        dropConnection = try container.decodeIfPresent(Bool.self, forKey: .dropConnection)
        aadstsCode = try container.decodeIfPresent(Int.self, forKey: .aadstsCode)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(endpoint?.rawValue ?? "any", forKey: .endpoint)
        try container.encode(count, forKey: .count)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encodeIfPresent(retryAfter, forKey: .retryAfter)
        try container.encodeIfPresent(delayMs, forKey: .delayMs)
        try container.encodeIfPresent(body, forKey: .body)
        try container.encodeIfPresent(token, forKey: .token)
        try container.encodeIfPresent(dropConnection, forKey: .dropConnection)
        try container.encodeIfPresent(aadstsCode, forKey: .aadstsCode)
    }
}

/// One request the emulator received.
public struct RecordedRequest: Sendable, Codable, Hashable {
    /// Position in the log, from 1.
    public var sequence: Int
    /// When it arrived.
    public var receivedAt: Date
    /// Which endpoint it hit.
    public var endpoint: EmulatorEndpoint
    /// The method.
    public var method: String
    /// The path.
    public var path: String
    /// The raw query string.
    public var query: String?
    /// The headers, as received (in-process only; the admin endpoint redacts credentials).
    public var headers: [Header]
    /// The form fields of an Entra request (in-process only; the admin endpoint redacts secrets).
    public var form: [String: String]
    /// The body of a request to `/admin/echo` (notification tests); empty for the others.
    public var body: String = ""
    /// The status answered (0 for a dropped connection).
    public var status: Int
    /// Whether a queued fault shaped the answer.
    public var faulted: Bool
    /// A short reason for a refusal, if any (never a secret).
    public var reason: String?

    /// One header.
    public struct Header: Sendable, Codable, Hashable {
        public var name: String
        public var value: String
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// A copy safe to show outside the process: `Authorization` reduced to its scheme and kind,
    /// secret form fields replaced.
    public var redacted: RecordedRequest {
        var copy = self
        copy.headers = headers.map { header in
            switch header.name.lowercased() {
            case "authorization":
                let scheme = header.value.split(separator: " ").first.map(String.init) ?? ""
                let credential = header.value.dropFirst(scheme.count + 1)
                let kind =
                    credential.split(separator: ".").count == 3
                    ? "jwt" : credential.contains(":") ? "account-key" : "other"
                return Header(name: header.name, value: "\(scheme) <redacted \(kind)>")
            case "x-identity-header", "cookie":
                return Header(name: header.name, value: "<redacted>")
            default:
                return header
            }
        }
        for key in ["client_secret", "client_assertion"] where copy.form[key] != nil {
            copy.form[key] = "<redacted>"
        }
        return copy
    }
}

/// The mutable state of a running emulator: queued faults, the request log and seen `jti`s.
/// Counters of `/admin/stats`.
public struct EmulatorStats: Codable, Sendable, Hashable {
    /// Requests answered since start.
    public var total: Int
    /// Requests being served now.
    public var inFlight: Int
    /// The most requests ever served at once.
    public var maxInFlight: Int
}

final class EmulatorState: Sendable {
    private struct Storage {
        var faults: [Fault] = []
        var requests: [RecordedRequest] = []
        var total = 0
        var inFlight = 0
        var maxInFlight = 0
        var seenAssertionIds: Set<String> = []
        var waiters: [UInt64: (count: Int, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let storage = Mutex(Storage())
    static let maxLoggedRequests = 100_000

    func enqueue(_ fault: Fault) {
        guard fault.count > 0 else { return }
        storage.withLock { $0.faults.append(fault) }
    }

    func clearFaults() {
        storage.withLock { $0.faults.removeAll() }
    }

    var pendingFaults: [Fault] { storage.withLock { $0.faults } }

    /// Takes one use of the first fault queued for the endpoint.
    func takeFault(for endpoint: EmulatorEndpoint) -> Fault? {
        storage.withLock { storage in
            guard let index = storage.faults.firstIndex(where: { $0.endpoint == nil || $0.endpoint == endpoint }) else {
                return nil
            }
            let fault = storage.faults[index]
            storage.faults[index].count -= 1
            if storage.faults[index].count <= 0 { storage.faults.remove(at: index) }
            return fault
        }
    }

    /// A request starts being served (for `/admin/stats`: the concurrency clients reach).
    func begin() {
        storage.withLock { storage in
            storage.inFlight += 1
            storage.maxInFlight = max(storage.maxInFlight, storage.inFlight)
        }
    }

    func end() {
        storage.withLock { $0.inFlight -= 1 }
    }

    /// Requests seen, in flight now, and the most ever in flight at once.
    var stats: EmulatorStats {
        storage.withLock { EmulatorStats(total: $0.total, inFlight: $0.inFlight, maxInFlight: $0.maxInFlight) }
    }

    func record(_ request: RecordedRequest) {
        let ready = storage.withLock { storage -> [CheckedContinuation<Bool, Never>] in
            var entry = request
            storage.total += 1
            entry.sequence = storage.total
            if storage.requests.count >= Self.maxLoggedRequests {
                storage.requests.removeFirst(storage.requests.count / 2)
            }
            storage.requests.append(entry)
            let total = entry.sequence
            let ready = storage.waiters.filter { $0.value.count <= total }
            for id in ready.keys { storage.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    var requests: [RecordedRequest] { storage.withLock { $0.requests } }

    func clearRequests() {
        storage.withLock { $0.requests.removeAll() }
    }

    /// Requests recorded since start, including cleared ones.
    var totalRequests: Int { storage.withLock { $0.total } }

    /// Waits until at least `count` requests have been recorded since start.
    func waitForRequests(count: Int, timeout: Duration) async -> Bool {
        let id = storage.withLock { storage -> UInt64 in
            storage.nextWaiter += 1
            return storage.nextWaiter
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let continuation = storage.withLock { $0.waiters.removeValue(forKey: id)?.continuation }
            continuation?.resume(returning: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let done = storage.withLock { storage -> Bool in
                if storage.total >= count { return true }
                storage.waiters[id] = (count, continuation)
                return false
            }
            if done { continuation.resume(returning: true) }
        }
    }

    /// Records an assertion id; `false` when it was seen before (a replay).
    func claimAssertionId(_ id: String) -> Bool {
        storage.withLock { $0.seenAssertionIds.insert(id).inserted }
    }
}
