// A token vending service: the pattern the Mixed Reality docs recommend for devices ("obtain
// tokens from a web service that supports your app"). It runs in the pod next to mr-token-sidecar,
// reads the token file the sidecar keeps fresh, and hands the token to callers that prove who they
// are. It never holds a credential: the account key or Entra identity stays with the sidecar.
//
//   MR_TOKEN_FILE        the sidecar's file (default /var/run/mixedreality/token)
//   MR_VENDING_KEY_FILE  a file holding the bearer key callers send (a Kubernetes Secret): at least
//                        32 random bytes, such as `openssl rand -base64 32` writes
//   MR_VENDING_ADDRESS   host:port to listen on (default 0.0.0.0:8080)
//   MR_VENDING_RATE      failed requests a minute per caller address, and per key presented
//                        (default 30); requests with the right key are not limited
//   MR_VENDING_BURST     failed requests a caller may send at once (default 10)
//   MR_VENDING_TRUSTED_PROXIES  CIDRs of the proxies (the ingress) whose X-Forwarded-For names the
//                        caller, comma-separated (default: none, the connection's address is the caller)
//   MR_VENDING_MAX_CALLERS  failure records kept at most (default 10000): past it, those with the
//                        fewest failures go first
//   MR_VENDING_MIN_VALIDITY  seconds a token handed out is still valid, at least (default 300):
//                        a device uses it for a session; the sidecar replaces tokens long before
//
//   GET /token   Authorization: Bearer <key>   ->   {"accessToken", "expiresOn", "expiresOnTimestamp"}
//
// Callers authenticate with a bearer key, not mutual TLS: devices reach the service through an
// ingress that terminates TLS, and a key per device fleet, rotated through the Secret (the file is
// read at each request), is what such ingress passes through; mutual TLS would need a client
// certificate on every device and TLS passed through to the pod. Expose the service only through
// TLS (the ingress): the key and the token must never cross a network in the clear.
//
// The key is checked first: a device with the right key is served whatever other callers at its
// address (the ingress's, when no proxy is trusted) did. The key's length, not the rate limit, is
// what stops guessing (2^256 keys); the limit makes a caller that keeps failing cheap to refuse and
// tells it when to come back.

import AzureCore
import Crypto
import HTTPTypes
import Hummingbird
import Logging
import MixedRealityTokenFile
import NIOCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The request context, with the connection's address.
struct VendingContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let peer: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// Who the caller is: the connection's address, or, when that is a trusted proxy's, the last
/// address of `X-Forwarded-For` that is not a trusted proxy's (the one the proxies saw).
struct CallerAddress: Sendable {
    /// CIDR blocks of the trusted proxies.
    let trusted: [String]

    func caller(peer: String, forwardedFor: String?) -> String {
        guard isTrusted(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty }
        for hop in hops.reversed() where !isTrusted(hop) {
            return IPAddressRule.isValid(hop) ? hop : peer
        }
        return peer
    }

    /// Whether `text` is a CIDR block: an address, `/`, and a prefix length it can have.
    static func isBlock(_ text: String) -> Bool {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let address = IPAddressRule.bytes(String(parts[0])), let bits = Int(parts[1]) else {
            return false
        }
        return (0...address.count * 8).contains(bits)
    }

    func isTrusted(_ address: String) -> Bool {
        guard let bytes = IPAddressRule.bytes(address) else { return false }
        return trusted.contains { ProxyBypass.contains(cidr: $0, bytes) }
    }
}

/// Failed requests, counted in token buckets: `burst` at once, refilled at `perMinute`, per
/// caller address and per key presented. At most `capacity` buckets are kept: past it, those with
/// the most tokens left (the fewest recent failures: a caller that failed once, or not lately) go
/// first, so that a spray of new addresses cannot clear the record of one that keeps failing.
final class FailureLimit: Sendable {
    private struct Bucket {
        var tokens: Double
        var at: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    let perMinute: Double
    let burst: Double
    let capacity: Int

    init(perMinute: Double, burst: Double, capacity: Int) {
        self.perMinute = perMinute
        self.burst = burst
        self.capacity = capacity
    }

    /// The seconds until one of `keys` may fail again, `nil` when none is out of failures.
    func wait(for keys: [String]) -> Int? {
        let now = ContinuousClock.now
        return buckets.withLock { buckets in
            let waits = keys.compactMap { key -> Int? in
                guard let bucket = buckets[key] else { return nil }
                let tokens = refilled(bucket, now)
                return tokens >= 1 ? nil : Int(((1 - tokens) * 60 / perMinute).rounded(.up))
            }
            return waits.max()
        }
    }

    /// Charges a failure to each of `keys`.
    func failed(_ keys: [String]) {
        let now = ContinuousClock.now
        buckets.withLock { buckets in
            for key in keys {
                if buckets[key] == nil && buckets.count >= capacity { evict(&buckets, now) }
                let tokens = buckets[key].map { refilled($0, now) } ?? burst
                buckets[key] = Bucket(tokens: max(0, tokens - 1), at: now)
            }
        }
    }

    /// Removes the tenth of the buckets with the most tokens left: full ones carry nothing, and a
    /// caller that is out of failures keeps its record the longest.
    private func evict(_ buckets: inout [String: Bucket], _ now: ContinuousClock.Instant) {
        let ranked = buckets.map { ($0.key, refilled($0.value, now)) }.sorted { $0.1 > $1.1 }
        for (key, _) in ranked.prefix(max(1, capacity / 10)) { buckets[key] = nil }
    }

    private func refilled(_ bucket: Bucket, _ now: ContinuousClock.Instant) -> Double {
        let elapsed = (now - bucket.at).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        return min(burst, bucket.tokens + seconds * perMinute / 60)
    }
}

enum Vending {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    /// The shortest key accepted: 32 random bytes are 43 characters in base64.
    static let minimumKeyLength = 43

    /// The callers' key, read from its file at each request (a rotated Secret applies at once), or
    /// why it is not usable: shorter than 32 random bytes' worth, or too repetitive to be random.
    static func key(in file: String) -> Result<[UInt8], KeyProblem> {
        guard let data = FileManager.default.contents(atPath: file) else { return .failure(.unreadable) }
        let key = Array(data).filter { $0 != 10 && $0 != 13 }
        guard key.count >= minimumKeyLength, Set(key).count >= 16 else { return .failure(.weak) }
        return .success(key)
    }

    enum KeyProblem: Error {
        case unreadable, weak

        var message: String {
            switch self {
            case .unreadable: "cannot read MR_VENDING_KEY_FILE: mount the Secret holding the key there"
            case .weak:
                "the key in MR_VENDING_KEY_FILE is shorter than 32 random bytes (43 characters of base64) or not random: write one with openssl rand -base64 32"
            }
        }
    }

    /// Compares without telling how much of the key matched.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// What names a presented key in the failure records: a digest, never the key.
    static func fingerprint(_ key: [UInt8]) -> String {
        "key:" + SHA256.hash(data: key).prefix(12).map { String($0, radix: 16) }.joined()
    }

    static func json(_ status: HTTPResponse.Status, _ body: JSONValue, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body.encoded())))
    }
}

@main
struct TokenVending {
    static func main() async throws {
        let environment = ProcessInfo.processInfo.environment
        let tokenFile = environment["MR_TOKEN_FILE"] ?? "/var/run/mixedreality/token"
        guard let keyFile = environment["MR_VENDING_KEY_FILE"], !keyFile.isEmpty else {
            print("set MR_VENDING_KEY_FILE to the file holding the callers' bearer key")
            exit(2)
        }
        if case .failure(let problem) = Vending.key(in: keyFile) {
            print(problem.message)
            exit(2)
        }
        let address = environment["MR_VENDING_ADDRESS"] ?? "0.0.0.0:8080"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            print("MR_VENDING_ADDRESS must be host:port")
            exit(2)
        }
        guard let perMinute = Double(environment["MR_VENDING_RATE"] ?? "30"), perMinute > 0,
            let burst = Double(environment["MR_VENDING_BURST"] ?? "10"), burst >= 1,
            let capacity = Int(environment["MR_VENDING_MAX_CALLERS"] ?? "10000"), capacity >= 10,
            let minimumValidity = Int(environment["MR_VENDING_MIN_VALIDITY"] ?? "300"), minimumValidity >= 0
        else {
            print(
                "MR_VENDING_RATE must be a positive number of failures a minute, MR_VENDING_BURST at least 1, MR_VENDING_MAX_CALLERS at least 10, MR_VENDING_MIN_VALIDITY a number of seconds"
            )
            exit(2)
        }
        let proxies = (environment["MR_VENDING_TRUSTED_PROXIES"] ?? "").split(separator: ",").map { $0.trimmed }.filter
        {
            !$0.isEmpty
        }
        for cidr in proxies where !CallerAddress.isBlock(cidr) {
            print(
                "MR_VENDING_TRUSTED_PROXIES: \(LogText.bounded(cidr, limit: 60)) is not a CIDR block such as 10.244.0.0/16"
            )
            exit(2)
        }

        let credential = TokenFileCredential(
            path: tokenFile, wait: .seconds(5), minimumValidity: .seconds(minimumValidity))
        let failures = FailureLimit(perMinute: perMinute, burst: burst, capacity: capacity)
        let callers = CallerAddress(trusted: proxies)
        var logger = Logger(label: "mr-example-token-vending")
        logger.logLevel = .info
        let router = Router(context: VendingContext.self)
        router.get("/healthz") { _, _ in Vending.json(.ok, ["status": "ok"]) }
        router.get("/token") { [logger] request, context in
            let key: [UInt8]
            switch Vending.key(in: keyFile) {
            case .success(let value): key = value
            case .failure(let problem):
                logger.error("refusing every caller", metadata: ["problem": "\(problem.message)"])
                return Vending.json(.serviceUnavailable, ["error": "the service has no usable key"])
            }
            // Authentication first: the right key is served, whatever others at the address did.
            let given = request.headers[.authorization].map { Array($0.utf8) } ?? []
            let prefix = Array("Bearer ".utf8)
            let presented = given.starts(with: prefix) ? Array(given.dropFirst(prefix.count)) : []
            guard !presented.isEmpty, Vending.constantTimeEquals(presented, key) else {
                let caller = callers.caller(peer: context.peer, forwardedFor: request.headers[Vending.forwardedFor])
                var keys = ["address:" + caller]
                if !presented.isEmpty { keys.append(Vending.fingerprint(presented)) }
                if let seconds = failures.wait(for: keys) {
                    return Vending.json(
                        .tooManyRequests, ["error": "too many failed requests"], headers: [.retryAfter: "\(seconds)"])
                }
                failures.failed(keys)
                return Vending.json(
                    .unauthorized, ["error": "send Authorization: Bearer <key>"], headers: [.wwwAuthenticate: "Bearer"])
            }
            do {
                let token = try await credential.token()
                return Vending.json(
                    .ok,
                    [
                        "accessToken": .string(token.token),
                        "expiresOn": .string(token.expiresOn.formatted(.iso8601)),
                        "expiresOnTimestamp": .number((token.expiresOn.timeIntervalSince1970 * 1000).rounded()),
                    ])
            } catch {
                return Vending.json(.serviceUnavailable, ["error": "no valid token yet: is mr-token-sidecar running?"])
            }
        }

        let app = Application(
            router: router,
            configuration: .init(
                address: .hostname(String(address[..<colon]), port: port), serverName: "token-vending"),
            onServerRunning: { channel in
                print("listening on \(channel.localAddress?.port ?? 0)")
                fflush(nil)
            },
            logger: logger)
        try await app.runService()
    }
}
