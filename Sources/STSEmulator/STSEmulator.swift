import AzureCore
import Crypto
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import NIOSSL
public import ServiceLifecycle
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An emulator of the Mixed Reality STS, the Entra ID v2 token endpoint and the managed identity
/// endpoints (IMDS and App Service), over HTTPS on loopback, with fault injection and a request
/// log. Tests and the demo run it in-process; `mr-sts-emulator` runs it as a program.
///
/// It is a `Service`: ``run()`` serves until graceful shutdown or cancellation.
public final class STSEmulator: Service, Sendable {
    /// The configuration it serves.
    public let configuration: EmulatorConfiguration
    /// The throwaway CA whose certificate clients must trust.
    public let certificateAuthority: TestCertificateAuthority
    /// The STS resource (audience) its Entra endpoints issue tokens for.
    public static let stsResource = "https://sts.mixedreality.azure.com"
    /// The audience of workload identity service-account tokens.
    public static let federatedAudience = "api://AzureADTokenExchange"

    let stsKey: JWTIssuerKey
    let entraKey: JWTIssuerKey
    let serviceAccountKey: JWTIssuerKey
    let state = EmulatorState()
    let logger: Logger
    private let certificates: [String: [RegisteredCertificate]]
    /// The accounts by id, looked up once per request (the first of equal ids wins).
    let accounts: [UUID: EmulatorConfiguration.Account]
    private let tlsConfiguration: TLSConfiguration?
    private let running = RunningSignal()

    /// Creates an emulator: validates the configuration and makes its keys and certificates.
    /// - Parameters:
    ///   - configuration: What to serve.
    ///   - logger: Where it logs each request (never a secret).
    /// - Throws: ``EmulatorError`` for an invalid configuration or certificate.
    public init(configuration: EmulatorConfiguration, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.accounts = configuration.accounts.reduce(into: [:]) { accounts, account in
            if let id = UUID(uuidString: account.accountId), accounts[id] == nil { accounts[id] = account }
        }
        self.certificateAuthority = try TestCertificateAuthority()
        self.stsKey = try JWTIssuerKey.sts.get()
        self.entraKey = try JWTIssuerKey.entra.get()
        self.serviceAccountKey = try JWTIssuerKey.serviceAccounts.get()
        var certificates: [String: [RegisteredCertificate]] = [:]
        for (index, application) in configuration.applications.enumerated() {
            for (certIndex, pem) in (application.certificatesPEM ?? []).enumerated() {
                do {
                    certificates[application.clientId.lowercased(), default: []].append(
                        try RegisteredCertificate(pem: pem))
                } catch {
                    throw EmulatorError(
                        "applications[\(index)].certificatesPEM[\(certIndex)]: not a PEM certificate (\(error))")
                }
            }
        }
        self.certificates = certificates
        switch (configuration.plainHTTP, configuration.serverCertificate) {
        case (true, _):
            self.tlsConfiguration = nil
        case (false, .valid):
            self.tlsConfiguration = try certificateAuthority.serverTLSConfiguration(
                dnsNames: ["localhost"] + configuration.serverNames)
        case (false, .expired):
            self.tlsConfiguration = try certificateAuthority.serverTLSConfiguration(
                notValidBefore: Date().addingTimeInterval(-7200), notValidAfter: Date().addingTimeInterval(-3600))
        case (false, .wrongHost):
            self.tlsConfiguration = try certificateAuthority.serverTLSConfiguration(
                dnsNames: ["wrong.example"], ipAddresses: [])
        }
    }

    // MARK: Running

    /// Serves until graceful shutdown or cancellation. Writes the CA PEM first when
    /// `caCertificatePath` is set.
    public func run() async throws {
        do {
            if let path = configuration.caCertificatePath {
                try Data(try certificateAuthority.certificatePEM.utf8).write(to: URL(filePath: path), options: .atomic)
            }
            let server: HTTPServerBuilder =
                if let tlsConfiguration { try .tls(.http1(), tlsConfiguration: tlsConfiguration) } else { .http1() }
            let scheme = configuration.plainHTTP ? "http" : "https"
            let host = configuration.host
            let app = Application(
                router: makeRouter(),
                server: server,
                configuration: ApplicationConfiguration(
                    address: .hostname(host, port: configuration.port), serverName: "mr-sts-emulator"),
                onServerRunning: { [running, logger] channel in
                    let port = channel.localAddress?.port ?? 0
                    let hostPart = host.contains(":") ? "[\(host)]" : host
                    let url = URL(string: "\(scheme)://\(hostPart):\(port)")!
                    logger.info("mr-sts-emulator listening", metadata: ["url": "\(url.absoluteString)"])
                    running.succeed(url)
                },
                logger: logger
            )
            try await app.run()
            running.fail(EmulatorError("the emulator stopped"))
        } catch {
            running.fail(
                EmulatorError("the emulator could not start on \(configuration.host):\(configuration.port): \(error)"))
            throw error
        }
    }

    /// Waits until the server listens and returns its base URL, such as `https://127.0.0.1:41237`.
    /// - Throws: ``EmulatorError`` when it failed to start.
    public func waitUntilRunning() async throws -> URL {
        try await running.wait()
    }

    /// Runs an emulator for the duration of `body`.
    /// - Parameters:
    ///   - configuration: What to serve.
    ///   - logger: Where it logs.
    ///   - body: Work to do while it runs; it gets the running emulator.
    public static func withRunning<T>(
        configuration: EmulatorConfiguration,
        logger: Logger = Logger(label: "mr-sts-emulator", factory: { _ in SwiftLogNoOpLogHandler() }),
        _ body: (STSEmulator) async throws -> T
    ) async throws -> T {
        let emulator = try STSEmulator(configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [emulator], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                _ = try await emulator.waitUntilRunning()
                let result = try await body(emulator)
                await group.triggerGracefulShutdown()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }

    /// The base URL, once running.
    public var baseURL: URL? { running.url }

    /// The CA certificate as PEM, for clients to trust.
    public var caCertificatePEM: String {
        get throws { try certificateAuthority.certificatePEM }
    }

    // MARK: Faults and request log

    /// Queues a fault for the next answers of its endpoint.
    public func inject(_ fault: Fault) { state.enqueue(fault) }

    /// Drops every queued fault.
    public func clearFaults() { state.clearFaults() }

    /// Faults still queued.
    public var pendingFaults: [Fault] { state.pendingFaults }
    /// Requests seen, in flight now, and the most ever in flight at once (also `GET /admin/stats`).
    public var stats: EmulatorStats { state.stats }

    /// Every request received (complete headers; for in-process tests).
    public var requests: [RecordedRequest] { state.requests }

    /// Requests received since start, including cleared ones.
    public var totalRequests: Int { state.totalRequests }

    /// Empties the request log.
    public func clearRequests() { state.clearRequests() }

    /// Waits until `count` requests have been received since start.
    /// Waits until the emulator has answered `count` requests in all; `false` if `timeout` passed first.
    @discardableResult
    public func waitForRequests(count: Int, timeout: Duration = .seconds(60)) async -> Bool {
        await state.waitForRequests(count: count, timeout: timeout)
    }

    // MARK: Tokens for tests

    /// A service-account token like the one Kubernetes projects for workload identity, signed by
    /// the emulator's issuer key.
    /// - Parameters:
    ///   - subject: `sub`, such as `system:serviceaccount:default:app`.
    ///   - audience: `aud` (default `api://AzureADTokenExchange`).
    ///   - lifetime: Seconds until `exp` (default 3600; negative makes an expired token).
    ///   - issuer: `iss` (default the configured `federatedIssuer`).
    public func mintServiceAccountToken(
        subject: String, audience: String = STSEmulator.federatedAudience, lifetime: Int = 3600, issuer: String? = nil
    ) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        let iat = lifetime < 0 ? now + Int64(lifetime) - 60 : now
        return try serviceAccountKey.sign(claims: [
            "iss": .string(issuer ?? configuration.federatedIssuer), "sub": .string(subject),
            "aud": .array([.string(audience)]),
            "iat": .number(Double(iat)), "nbf": .number(Double(iat)), "exp": .number(Double(now + Int64(lifetime))),
            "kubernetes.io": .object(["namespace": "default"]), "jti": .string(UUID().uuidString.lowercased()),
        ])
    }

    /// A Mixed Reality token as the STS would issue it.
    /// - Parameters:
    ///   - accountId: The account.
    ///   - accountDomain: Its domain (for the region claims).
    ///   - lifetime: Seconds until `exp` (negative for an expired token).
    ///   - issuedAgo: Seconds since `iat` (default: now, or before `exp` for an expired token).
    ///   - includeAccountId: Whether the `aid` claim is there (default `true`).
    public func mintMixedRealityToken(
        accountId: String, accountDomain: String? = nil, lifetime: Int, issuedAgo: Int? = nil,
        includeAccountId: Bool = true
    ) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        let region = Self.region(of: accountDomain)
        let iat = issuedAgo.map { now - Int64($0) } ?? (lifetime < 0 ? now + Int64(lifetime) - 60 : now)
        var claims: [String: JSONValue] = [
            "jti": .string(UUID().uuidString.lowercased()), "cai": "EmulatorClient",
            "tid": "00000000-0000-0000-0000-000000000000",
            "aid": .string(accountId.lowercased()), "aao": -1,
            "apr": .string(region),
            "rid": .string(
                "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/emulator/providers/Microsoft.MixedReality/SpatialAnchorsAccounts/\(accountId.lowercased())"
            ),
            "att": "Default", "nbf": .number(Double(iat)), "exp": .number(Double(now + Int64(lifetime))),
            "iat": .number(Double(iat)),
            "iss": .string("https://sts.\(region).mixedreality.azure.com/"),
            "aud": .string("https://manage.sa.\(region).mixedreality.azure.com/"),
        ]
        if !includeAccountId { claims["aid"] = nil }
        return try stsKey.sign(
            claims: claims,
            extraHeader: ["x5t": .string(stsKey.x5t)]
        )
    }

    static func region(of domain: String?) -> String {
        guard let domain, let first = domain.split(separator: ".").first, domain.split(separator: ".").count > 3 else {
            return "eastus2"
        }
        return String(first)
    }

    /// An Entra access token for a resource, as the emulator's Entra and IMDS endpoints issue.
    func mintEntraToken(
        resource: String, tenantId: String, clientId: String, objectId: String?, lifetime: Int
    ) throws
        -> String
    {
        let now = Int64(Date().timeIntervalSince1970)
        return try entraKey.sign(
            claims: [
                "aud": .string(resource), "iss": .string("https://sts.windows.net/\(tenantId)/"),
                "iat": .number(Double(now - 300)),
                "nbf": .number(Double(now - 300)), "exp": .number(Double(now + Int64(lifetime))),
                "appid": .string(clientId),
                "azp": .string(clientId), "oid": .string(objectId ?? clientId), "sub": .string(objectId ?? clientId),
                "tid": .string(tenantId), "idtyp": "app", "ver": "1.0", "uti": .string(CV.random(length: 22)),
            ],
            extraHeader: ["x5t": .string(entraKey.x5t)]
        )
    }

    func registeredCertificates(clientId: String) -> [RegisteredCertificate] {
        certificates[clientId.lowercased()] ?? []
    }
}

/// A certificate registered on an Entra application, with its thumbprints.
struct RegisteredCertificate: Sendable {
    let certificate: Certificate
    let sha1Thumbprint: String
    let sha256Thumbprint: String

    init(pem: String) throws {
        certificate = try Certificate(pemEncoded: pem)
        let der = try certificate.serializeAsPEM().derBytes
        sha1Thumbprint = Base64URL.encode(Array(Insecure.SHA1.hash(data: der)))
        sha256Thumbprint = Base64URL.encode(Array(SHA256.hash(data: der)))
    }

    func verify(_ jwt: ParsedJWT) -> Bool {
        if let rsa = _RSA.Signing.PublicKey(certificate.publicKey) { return jwt.verify(rsa: rsa) }
        if let ec = P256.Signing.PublicKey(certificate.publicKey) { return jwt.verify(p256: ec) }
        return false
    }
}

/// Random correlation-vector style strings.
enum CV {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    static func random(length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt8(64)))] })
    }
}

/// Resolves waiters once the server listens (or failed to).
final class RunningSignal: Sendable {
    private enum State {
        case pending([CheckedContinuation<URL, any Error>])
        case running(URL)
        case failed(EmulatorError)
    }
    private let state = Mutex(State.pending([]))

    var url: URL? {
        state.withLock { if case .running(let url) = $0 { url } else { nil } }
    }

    func succeed(_ url: URL) {
        let waiters = state.withLock { state -> [CheckedContinuation<URL, any Error>] in
            guard case .pending(let waiters) = state else { return [] }
            state = .running(url)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: url) }
    }

    func fail(_ error: EmulatorError) {
        let waiters = state.withLock { state -> [CheckedContinuation<URL, any Error>] in
            guard case .pending(let waiters) = state else { return [] }
            state = .failed(error)
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    func wait() async throws -> URL {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<URL, EmulatorError>? in
                switch state {
                case .pending(var waiters):
                    waiters.append(continuation)
                    state = .pending(waiters)
                    return nil
                case .running(let url): return .success(url)
                case .failed(let error): return .failure(error)
                }
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }
}
