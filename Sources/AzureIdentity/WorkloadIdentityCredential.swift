public import AzureCore
public import Logging
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Authenticates with workload identity federation: the projected service-account token that
/// Azure Workload Identity mounts is sent as a client assertion.
///
/// The token file is re-read when the copy in memory is older than five minutes, and at once when
/// Entra answers `AADSTS700024` (the assertion's time range; the kubelet rotates the file).
public struct WorkloadIdentityCredential: TokenCredential, CustomStringConvertible {
    static let name = "WorkloadIdentityCredential"
    /// How long a read assertion is used before the file is read again.
    public static let assertionRereadInterval: Double = 300

    let client: EntraClient
    /// The federated token file.
    public let tokenFilePath: String
    let cache: TokenCache
    let assertion: AssertionFile

    /// Creates a credential; each argument defaults from its `AZURE_*` variable.
    /// - Parameters:
    ///   - tenantId: The tenant id (default `AZURE_TENANT_ID`).
    ///   - clientId: The application or user-assigned identity client id (default `AZURE_CLIENT_ID`).
    ///   - tokenFilePath: The projected token file (default `AZURE_FEDERATED_TOKEN_FILE`).
    ///   - options: Authority host (default `AZURE_AUTHORITY_HOST`) and HTTP options.
    /// - Throws: ``AzureIdentityError``: `credentialUnavailable` naming a missing variable,
    ///   `invalidArgument` for a bad value.
    public init(
        tenantId: String? = nil, clientId: String? = nil, tokenFilePath: String? = nil,
        options: TokenCredentialOptions = .init()
    ) throws {
        let environment = options.resolvedEnvironment
        func value(_ given: String?, _ variable: String, _ argument: String) throws -> String {
            if let given, !given.isEmpty { return given }
            if let fromEnvironment = environment[variable], !fromEnvironment.isEmpty { return fromEnvironment }
            throw AzureIdentityError.unavailable(
                Self.name,
                "\(argument) is not set and neither is \(variable): enable Azure Workload Identity for the pod (label azure.workload.identity/use: \"true\" and an annotated service account) or give \(argument)"
            )
        }
        let tenant = try value(tenantId, "AZURE_TENANT_ID", "tenantId")
        let client = try value(clientId, "AZURE_CLIENT_ID", "clientId")
        let file = try value(tokenFilePath, "AZURE_FEDERATED_TOKEN_FILE", "tokenFilePath")
        self.client = try EntraClient(credentialName: Self.name, tenantId: tenant, clientId: client, options: options)
        self.tokenFilePath = file
        self.cache = TokenCache(now: options.now)
        self.assertion = AssertionFile(path: file, now: options.now)
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        try await cache.token(for: context.cacheKey) { [client, assertion] in
            let first = try assertion.current(forceReread: false)
            do {
                return try await client.requestToken(
                    context: context, credentialFields: Self.fields(first), logger: logger)
            } catch let error as AzureIdentityError where error.aadstsCodes.contains(700_024) {
                // The assertion expired: the kubelet has most likely written a new one.
                let second = try assertion.current(forceReread: true)
                logger.info(
                    "federated token rejected as outside its time range; re-read the token file",
                    metadata: [LogKeys.path: "\(assertion.path)", LogKeys.tokenFileChanged: .boolean(second != first)])
                guard second != first else { throw error }
                return try await client.requestToken(
                    context: context, credentialFields: Self.fields(second), logger: logger)
            }
        }
    }

    static func fields(_ assertion: String) -> [(String, String)] {
        [
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ]
    }

    public var description: String {
        "WorkloadIdentityCredential(tenantId: \(client.tenantId), clientId: \(client.clientId), tokenFile: \(tokenFilePath))"
    }
}

/// The federated token file and the copy read from it.
final class AssertionFile: Sendable {
    let path: String
    private let now: @Sendable () -> Date
    private let cached = Mutex<(value: String, readAt: Date)?>(nil)

    init(path: String, now: @escaping @Sendable () -> Date) {
        self.path = path
        self.now = now
    }

    func current(forceReread: Bool) throws -> String {
        let current = now()
        if !forceReread, let cached = cached.withLock({ $0 }),
            current.timeIntervalSince(cached.readAt) < WorkloadIdentityCredential.assertionRereadInterval
        {
            return cached.value
        }
        let value = try SecretFile.read(
            path, what: "the federated token file", credential: WorkloadIdentityCredential.name)
        cached.withLock { $0 = (value, current) }
        return value
    }
}
