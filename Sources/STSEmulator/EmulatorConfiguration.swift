#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the emulator serves: its address, the Mixed Reality accounts, the Entra applications
/// and managed identities it knows, and the lifetimes of the tokens it issues.
///
/// Read from JSON by `mr-sts-emulator --config`; every key is optional:
/// - `host` (string, default `127.0.0.1`): loopback address to listen on.
/// - `port` (int, default 0): port, 0 for any free one.
/// - `plainHTTP` (bool, default false): serve plain HTTP instead of HTTPS.
/// - `caCertificatePath` (string, optional): where to write the throwaway CA's PEM.
/// - `accounts` ([Account]): Mixed Reality accounts.
/// - `applications` ([Application]): Entra applications (client secret, certificate, federated).
/// - `managedIdentities` ([ManagedIdentity]): identities served by the IMDS endpoint.
/// - `identityHeader` (string, optional): the App Service `X-IDENTITY-HEADER` secret.
/// - `stsTokenLifetimeSeconds` (int, default 86400), `entraTokenLifetimeSeconds` (int, default
///   3600), `managedIdentityTokenLifetimeSeconds` (int, default 86400).
/// - `federatedIssuer` (string, default `https://kubernetes.default.svc.cluster.local`): the
///   issuer of the service-account tokens the emulator mints for workload identity.
public struct EmulatorConfiguration: Sendable, Codable, Hashable {
    /// A Mixed Reality account.
    public struct Account: Sendable, Codable, Hashable {
        /// The account id (a UUID).
        public var accountId: String
        /// Its keys (primary, secondary); any of them is accepted.
        public var accountKeys: [String]
        /// The account domain, for the region claims of tokens (default `mixedreality.azure.com`).
        public var accountDomain: String?
        /// Entra client ids allowed to get tokens for the account; `nil` allows every known one.
        public var allowedClientIds: [String]?

        public init(
            accountId: String, accountKeys: [String], accountDomain: String? = nil, allowedClientIds: [String]? = nil
        ) {
            self.accountId = accountId
            self.accountKeys = accountKeys
            self.accountDomain = accountDomain
            self.allowedClientIds = allowedClientIds
        }
    }

    /// An Entra application registration.
    public struct Application: Sendable, Codable, Hashable {
        /// The tenant id.
        public var tenantId: String
        /// The application (client) id.
        public var clientId: String
        /// Accepted client secrets.
        public var clientSecrets: [String]?
        /// Registered certificates (PEM), for client assertions.
        public var certificatesPEM: [String]?
        /// Federated identity credentials, for workload identity.
        public var federatedCredentials: [FederatedCredential]?

        public init(
            tenantId: String, clientId: String, clientSecrets: [String]? = nil, certificatesPEM: [String]? = nil,
            federatedCredentials: [FederatedCredential]? = nil
        ) {
            self.tenantId = tenantId
            self.clientId = clientId
            self.clientSecrets = clientSecrets
            self.certificatesPEM = certificatesPEM
            self.federatedCredentials = federatedCredentials
        }
    }

    /// A federated identity credential of an application.
    public struct FederatedCredential: Sendable, Codable, Hashable {
        /// The issuer (default: the emulator's `federatedIssuer`).
        public var issuer: String?
        /// The subject, such as `system:serviceaccount:default:app`.
        public var subject: String
        /// Accepted audiences (default `api://AzureADTokenExchange`).
        public var audiences: [String]?

        public init(issuer: String? = nil, subject: String, audiences: [String]? = nil) {
            self.issuer = issuer
            self.subject = subject
            self.audiences = audiences
        }
    }

    /// A managed identity the IMDS endpoint serves.
    public struct ManagedIdentity: Sendable, Codable, Hashable {
        /// Its client id.
        public var clientId: String
        /// Its object (principal) id.
        public var objectId: String?
        /// Its ARM resource id.
        public var resourceId: String?
        /// Whether it is the system-assigned identity (used when a request names none).
        public var systemAssigned: Bool?

        public init(clientId: String, objectId: String? = nil, resourceId: String? = nil, systemAssigned: Bool? = nil) {
            self.clientId = clientId
            self.objectId = objectId
            self.resourceId = resourceId
            self.systemAssigned = systemAssigned
        }
    }

    public var host: String
    public var port: Int
    public var plainHTTP: Bool
    public var caCertificatePath: String?
    public var accounts: [Account]
    public var applications: [Application]
    public var managedIdentities: [ManagedIdentity]
    public var identityHeader: String?
    public var stsTokenLifetimeSeconds: Int
    public var entraTokenLifetimeSeconds: Int
    public var managedIdentityTokenLifetimeSeconds: Int
    public var federatedIssuer: String
    /// The certificate the emulator serves: `valid`, or a broken one (`expired`, `wrongHost`)
    /// that every client must refuse.
    public var serverCertificate: ServerCertificate
    /// More DNS names of the served certificate besides `localhost` and the loopback addresses,
    /// such as `sts.westeurope.mixedreality.azure.com`: the emulator then stands in for Azure's own
    /// hosts behind a proxy that routes them to it (a test of who may be trusted in transit).
    public var serverNames: [String]

    /// What is wrong with the served certificate, if anything.
    public enum ServerCertificate: String, Codable, Sendable, Hashable {
        case valid
        /// Expired an hour ago.
        case expired
        /// Valid, but for `wrong.example` only (not localhost or 127.0.0.1).
        case wrongHost
    }

    /// Creates a configuration; every parameter has the default documented on the type.
    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        plainHTTP: Bool = false,
        caCertificatePath: String? = nil,
        accounts: [Account] = [],
        applications: [Application] = [],
        managedIdentities: [ManagedIdentity] = [],
        identityHeader: String? = nil,
        stsTokenLifetimeSeconds: Int = 86400,
        entraTokenLifetimeSeconds: Int = 3600,
        managedIdentityTokenLifetimeSeconds: Int = 86400,
        federatedIssuer: String = "https://kubernetes.default.svc.cluster.local",
        serverCertificate: ServerCertificate = .valid,
        serverNames: [String] = []
    ) {
        self.host = host
        self.port = port
        self.plainHTTP = plainHTTP
        self.caCertificatePath = caCertificatePath
        self.accounts = accounts
        self.applications = applications
        self.managedIdentities = managedIdentities
        self.identityHeader = identityHeader
        self.stsTokenLifetimeSeconds = stsTokenLifetimeSeconds
        self.entraTokenLifetimeSeconds = entraTokenLifetimeSeconds
        self.managedIdentityTokenLifetimeSeconds = managedIdentityTokenLifetimeSeconds
        self.federatedIssuer = federatedIssuer
        self.serverCertificate = serverCertificate
        self.serverNames = serverNames
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case host, port, plainHTTP, caCertificatePath, accounts, applications, managedIdentities, identityHeader
        case stsTokenLifetimeSeconds, entraTokenLifetimeSeconds, managedIdentityTokenLifetimeSeconds, federatedIssuer
        case serverCertificate, serverNames
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = EmulatorConfiguration()
        host = try container.decodeIfPresent(String.self, forKey: .host) ?? defaults.host
        port = try container.decodeIfPresent(Int.self, forKey: .port) ?? defaults.port
        plainHTTP = try container.decodeIfPresent(Bool.self, forKey: .plainHTTP) ?? defaults.plainHTTP
        caCertificatePath = try container.decodeIfPresent(String.self, forKey: .caCertificatePath)
        accounts = try container.decodeIfPresent([Account].self, forKey: .accounts) ?? []
        applications = try container.decodeIfPresent([Application].self, forKey: .applications) ?? []
        managedIdentities = try container.decodeIfPresent([ManagedIdentity].self, forKey: .managedIdentities) ?? []
        identityHeader = try container.decodeIfPresent(String.self, forKey: .identityHeader)
        stsTokenLifetimeSeconds =
            try container.decodeIfPresent(Int.self, forKey: .stsTokenLifetimeSeconds)
            ?? defaults.stsTokenLifetimeSeconds
        entraTokenLifetimeSeconds =
            try container.decodeIfPresent(Int.self, forKey: .entraTokenLifetimeSeconds)
            ?? defaults.entraTokenLifetimeSeconds
        managedIdentityTokenLifetimeSeconds =
            try container.decodeIfPresent(Int.self, forKey: .managedIdentityTokenLifetimeSeconds)
            ?? defaults.managedIdentityTokenLifetimeSeconds
        federatedIssuer =
            try container.decodeIfPresent(String.self, forKey: .federatedIssuer) ?? defaults.federatedIssuer
        serverCertificate =
            try container.decodeIfPresent(ServerCertificate.self, forKey: .serverCertificate)
            ?? defaults.serverCertificate
        serverNames = try container.decodeIfPresent([String].self, forKey: .serverNames) ?? []
    }

    /// Checks the configuration and says what is wrong, key by key.
    /// - Throws: ``EmulatorError`` listing every problem.
    public func validate() throws {
        var problems: [String] = []
        if !["127.0.0.1", "localhost", "::1"].contains(host) && !host.hasPrefix("127.") {
            problems.append("host: \"\(host)\" is not a loopback address; the emulator only listens on loopback")
        }
        if !(0...65535).contains(port) { problems.append("port: \(port) is not a port number (0...65535)") }
        for (index, account) in accounts.enumerated() {
            if UUID(uuidString: account.accountId) == nil {
                problems.append("accounts[\(index)].accountId: \"\(account.accountId)\" is not a UUID")
            }
            if account.accountKeys.isEmpty || account.accountKeys.contains(where: \.isEmpty) {
                problems.append("accounts[\(index)].accountKeys: give at least one non-empty key")
            }
        }
        for (index, application) in applications.enumerated()
        where application.clientId.isEmpty
            || application.tenantId.isEmpty
        {
            problems.append("applications[\(index)]: tenantId and clientId are required")
        }
        for (name, value) in [
            ("stsTokenLifetimeSeconds", stsTokenLifetimeSeconds),
            ("entraTokenLifetimeSeconds", entraTokenLifetimeSeconds),
            ("managedIdentityTokenLifetimeSeconds", managedIdentityTokenLifetimeSeconds),
        ] where value < 1 {
            problems.append("\(name): \(value) must be at least 1 second")
        }
        if !problems.isEmpty {
            throw EmulatorError(problems.joined(separator: "; "))
        }
    }
}

/// An error of the emulator's own setup (configuration, certificates, listening).
public struct EmulatorError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and what to do.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
