// A token vending service: the pattern the Mixed Reality docs recommend for devices ("obtain
// tokens from a web service that supports your app"). It runs in the pod next to mr-token-sidecar,
// reads the token file the sidecar keeps fresh, and hands the token to callers that prove who they
// are. It never holds a credential: the account key or Entra identity stays with the sidecar.
//
//   MR_TOKEN_FILE        the sidecar's file (default /var/run/mixedreality/token)
//   MR_VENDING_KEY_FILE  a file holding the bearer key callers send (a Kubernetes Secret)
//   MR_VENDING_ADDRESS   host:port to listen on (default 0.0.0.0:8080)
//   MR_VENDING_RATE      requests a minute per caller address (default 30)
//   MR_VENDING_BURST     requests a caller may send at once (default 10)
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

import AzureCore
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

/// The request context, with the caller's address for the rate limit.
struct VendingContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let peer: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// A token bucket per caller address: `burst` requests at once, refilled at `perMinute`.
final class RateLimit: Sendable {
    private let buckets = Mutex<[String: (tokens: Double, at: ContinuousClock.Instant)]>([:])
    let perMinute: Double
    let burst: Double

    init(perMinute: Double, burst: Double) {
        self.perMinute = perMinute
        self.burst = burst
    }

    /// `nil` when the caller may go on, else the seconds until it may.
    func wait(for caller: String) -> Int? {
        let now = ContinuousClock.now
        return buckets.withLock { buckets in
            if buckets.count > 10_000 { buckets.removeAll() }  // bounded memory under a spray of addresses
            var bucket = buckets[caller] ?? (burst, now)
            let elapsed = (now - bucket.at).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
            bucket.tokens = min(burst, bucket.tokens + seconds * perMinute / 60)
            bucket.at = now
            defer { buckets[caller] = bucket }
            guard bucket.tokens >= 1 else { return Int(((1 - bucket.tokens) * 60 / perMinute).rounded(.up)) }
            bucket.tokens -= 1
            return nil
        }
    }
}

enum Vending {
    /// Compares without telling how much of the key matched.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
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
        let address = environment["MR_VENDING_ADDRESS"] ?? "0.0.0.0:8080"
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            print("MR_VENDING_ADDRESS must be host:port")
            exit(2)
        }
        guard let perMinute = Double(environment["MR_VENDING_RATE"] ?? "30"), perMinute > 0,
            let burst = Double(environment["MR_VENDING_BURST"] ?? "10"), burst >= 1,
            let minimumValidity = Int(environment["MR_VENDING_MIN_VALIDITY"] ?? "300"), minimumValidity >= 0
        else {
            print(
                "MR_VENDING_RATE must be a positive number of requests a minute, MR_VENDING_BURST at least 1, MR_VENDING_MIN_VALIDITY a number of seconds"
            )
            exit(2)
        }

        let credential = TokenFileCredential(
            path: tokenFile, wait: .seconds(5), minimumValidity: .seconds(minimumValidity))
        let limit = RateLimit(perMinute: perMinute, burst: burst)
        let router = Router(context: VendingContext.self)
        router.get("/healthz") { _, _ in Vending.json(.ok, ["status": "ok"]) }
        router.get("/token") { request, context in
            if let seconds = limit.wait(for: context.peer) {
                return Vending.json(
                    .tooManyRequests, ["error": "too many requests"], headers: [.retryAfter: "\(seconds)"])
            }
            // The key file is read at each request: rotating the Secret needs no restart.
            let key = (FileManager.default.contents(atPath: keyFile).map { Array($0) } ?? []).filter {
                $0 != 10 && $0 != 13
            }
            let given = request.headers[.authorization].map { Array($0.utf8) } ?? []
            let prefix = Array("Bearer ".utf8)
            guard key.count >= 16, given.starts(with: prefix),
                Vending.constantTimeEquals(Array(given.dropFirst(prefix.count)), key)
            else {
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

        var logger = Logger(label: "mr-example-token-vending")
        logger.logLevel = .info
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
