import AzureCore
import DaemonSupport
import Hummingbird
import Logging
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Serves `/healthz`, `/readyz`, `/status` and `/metrics` over plain HTTP, from the snapshots
/// the state machines publish.
struct ProbeServer<C: WallClock>: Service {
    let host: String
    let port: Int
    let board: StatusBoard
    let health: ProbeFlag
    let registry: MetricsRegistry
    let readyMinValidity: TimeInterval
    /// The version `/status` reports.
    let version: String
    /// Whether `/status` answers clients that are not on loopback (`server.exposeStatus`).
    let exposeStatus: Bool
    let logger: Logger
    /// What readiness and `/status` are computed at, and what a request waiting for its turn
    /// times out on.
    let clock: C
    /// Called with the bound port once listening.
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let router = Router(context: PeerRequestContext.self)
        router.get("/healthz") { _, _ in
            health.isSet
                ? HTTPServing.json(.ok, ["status": "ok"])
                : HTTPServing.json(.serviceUnavailable, ["status": "not running"])
        }
        router.get("/readyz") { _, _ in
            let notReady = board.notReady(now: clock.date, validity: readyMinValidity)
            if board.isEmpty || !notReady.isEmpty || !health.isSet {
                return HTTPServing.json(.serviceUnavailable, ReadyBody(status: "not ready", accounts: notReady))
            }
            return HTTPServing.json(.ok, ReadyBody(status: "ready", accounts: []))
        }
        router.get("/status") { _, context in
            // Account ids, paths and error texts: for the pod itself (kubectl port-forward
            // reaches it), not for whatever can reach the probe port, unless the config says so.
            guard exposeStatus || context.isLoopbackClient else {
                return HTTPServing.json(
                    .forbidden,
                    [
                        "status":
                            "/status answers on loopback only (kubectl port-forward); set server.exposeStatus to serve it to all"
                    ])
            }
            let now = clock.date
            return HTTPServing.json(
                .ok,
                StatusBody(
                    version: version, secretRoutes: board.secretRoutes,
                    accounts: board.all.map { AccountStatus($0, now: now) }))
        }
        router.get("/metrics") { _, _ in HTTPServing.metrics(registry) }
        try await HTTPServing.serve(
            router, host: host, port: port, serverName: "mr-token-sidecar", what: "probe server", logger: logger,
            clock: clock, onListening: onListening)
    }

    struct ReadyBody: Encodable {
        var status: String
        var accounts: [String]
    }

    struct StatusBody: Encodable {
        var version: String
        /// Where the configuration in use sends secrets (no secret in it).
        var secretRoutes: [String: String]
        var accounts: [AccountStatus]
    }
}

/// What `/status` says of an account: its snapshot, dates in RFC 3339.
struct AccountStatus: Encodable {
    struct LastError: Encodable {
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
    var state: String
    var expiresOn: String?
    var lastRefresh: String?
    var nextAttempt: String?
    var consecutiveFailures: Int
    var lastError: LastError?
    /// Every output file (the first is `output`).
    var outputs: [String]
    /// The account key file in use (`keyFiles`), if any.
    var accountKeyFile: String?
    /// When another process last opened a token file of the account, and how long ago.
    var lastRead: String?
    var secondsSinceRead: Int?
    /// Whether the token written last has been read since.
    var readSinceWrite: Bool?

    init(_ snapshot: AccountSnapshot, now: Date) {
        name = snapshot.name
        accountId = snapshot.accountId
        output = snapshot.output
        outputs = snapshot.outputs.isEmpty ? [snapshot.output] : snapshot.outputs
        accountKeyFile = snapshot.keyFile?.path
        lastRead = snapshot.lastRead.map(TokenFileFormat.rfc3339)
        secondsSinceRead = snapshot.lastRead.map { Int(now.timeIntervalSince($0).rounded(.down)) }
        readSinceWrite = snapshot.readSinceWrite
        state = snapshot.state(at: now).rawValue
        expiresOn = snapshot.expiresOn.map(TokenFileFormat.rfc3339)
        lastRefresh = snapshot.lastRefresh.map(TokenFileFormat.rfc3339)
        nextAttempt = snapshot.nextAttempt.map(TokenFileFormat.rfc3339)
        consecutiveFailures = snapshot.consecutiveFailures
        lastError = snapshot.lastFailure.map { failure in
            LastError(
                kind: failure.error.metricLabel, message: failure.message, httpStatus: failure.httpStatus,
                correlationVector: failure.correlationVector, msCV: failure.msCV,
                at: TokenFileFormat.rfc3339(failure.at))
        }
    }
}
