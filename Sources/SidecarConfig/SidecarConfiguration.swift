package import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The sidecar's configuration file (docs/config.md documents every key).
public struct SidecarConfiguration: Decodable, Sendable, Hashable {
    /// The accounts whose tokens are kept on disk.
    public var accounts: [AccountConfiguration]
    /// When tokens are refreshed and how failures back off.
    public var refresh: RefreshConfiguration
    /// Extra trust for the hosts the operator allowed (private endpoints, the emulator).
    public var tls: TLSSection
    /// The probes and metrics server.
    public var server: ServerConfiguration
    /// Logging.
    public var log: LogConfiguration
    /// The outgoing proxy for the hosts the operator allowed (``OperatorPolicy/opensTransport(to:)``);
    /// `nil`: `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` from the environment, as for every other host.
    public var proxy: ProxySection?
    /// What the pod spec decided (flags and environment), not the file: set by ``ConfigLoader``.
    public var operatorPolicy = OperatorPolicy()

    enum CodingKeys: String, CodingKey { case accounts, refresh, tls, server, log, proxy }

    public init(
        accounts: [AccountConfiguration], refresh: RefreshConfiguration = .init(), tls: TLSSection = .init(),
        server: ServerConfiguration = .init(), log: LogConfiguration = .init(), proxy: ProxySection? = nil
    ) {
        self.accounts = accounts
        self.refresh = refresh
        self.tls = tls
        self.server = server
        self.log = log
        self.proxy = proxy
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accounts = try container.decode([AccountConfiguration].self, forKey: .accounts)
        refresh = try container.decodeIfPresent(RefreshConfiguration.self, forKey: .refresh) ?? .init()
        tls = try container.decodeIfPresent(TLSSection.self, forKey: .tls) ?? .init()
        server = try container.decodeIfPresent(ServerConfiguration.self, forKey: .server) ?? .init()
        log = try container.decodeIfPresent(LogConfiguration.self, forKey: .log) ?? .init()
        proxy = try container.decodeIfPresent(ProxySection.self, forKey: .proxy)
    }
}

extension SidecarConfiguration {
    /// The options of every request the sidecar sends: the system's CA store, the operator's
    /// `--ca-file` and the environment's proxy for every host; the file's `tls` and `proxy` for the
    /// hosts the operator allowed, and for those only.
    /// - Parameter applicationId: The `User-Agent` prefix, such as `mr-token-sidecar/1.2.0`.
    package func pipelineOptions(applicationId: String) -> HTTPPipelineOptions {
        var options = HTTPPipelineOptions(
            additionalTrustedCAFile: operatorPolicy.caFile, applicationId: applicationId)
        if tls != TLSSection() || proxy != nil {
            options.scopedTransport = ScopedTransport(
                hosts: operatorPolicy.egress.allowedHosts, additionalTrustedCAFile: tls.caFile,
                trustSystemRoots: tls.systemRoots, proxy: proxy?.pipelineProxy)
        }
        return options
    }
}

/// The outgoing proxy to the hosts the operator allowed, instead of the environment's.
public struct ProxySection: Decodable, Sendable, Hashable {
    /// `http://[user:password@]host:port` (CONNECT for https) or `socks5://host:port`; empty: no
    /// proxy, whatever the environment says.
    public var url: String
    /// Hosts reached directly, in `NO_PROXY`'s grammar.
    public var noProxy: [String]

    enum CodingKeys: String, CodingKey { case url, noProxy }

    public init(url: String, noProxy: [String] = []) {
        self.url = url
        self.noProxy = noProxy
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        noProxy = try container.decodeIfPresent([String].self, forKey: .noProxy) ?? []
    }

    /// The pipeline's form of it.
    package var pipelineProxy: ProxyConfiguration { ProxyConfiguration(url: url, noProxy: noProxy) }
}

/// One Mixed Reality account.
public struct AccountConfiguration: Decodable, Sendable, Hashable {
    /// Unique name (`[a-z0-9-]`), used in logs, metrics and `/status`.
    public var name: AccountName
    /// The account id (a UUID).
    public var accountId: AccountIdentifier
    /// The account domain, such as `eastus2.mixedreality.azure.com`.
    public var accountDomain: String
    /// A custom STS endpoint (https), optional.
    public var endpoint: String?
    /// How the account authenticates.
    public var credential: CredentialConfiguration
    /// Where and how the token is written: `output`, then each of `outputs`, all from the same
    /// token. At least one.
    public var outputs: [OutputConfiguration]
    /// Whom to tell after a new token is written, optional.
    public var notify: NotifyConfiguration?

    /// The first output: the one a restart adopts the token from.
    public var output: OutputConfiguration { outputs[0] }

    enum CodingKeys: String, CodingKey {
        case name, accountId, accountDomain, endpoint, credential, output, outputs, notify
    }

    public init(
        name: AccountName, accountId: AccountIdentifier, accountDomain: String, endpoint: String? = nil,
        credential: CredentialConfiguration, output: OutputConfiguration, outputs: [OutputConfiguration] = [],
        notify: NotifyConfiguration? = nil
    ) {
        self.name = name
        self.accountId = accountId
        self.accountDomain = accountDomain
        self.endpoint = endpoint
        self.credential = credential
        self.outputs = [output] + outputs
        self.notify = notify
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(AccountName.self, forKey: .name)
        accountId = try container.decode(AccountIdentifier.self, forKey: .accountId)
        accountDomain = try container.decode(String.self, forKey: .accountDomain)
        endpoint = try container.decodeIfPresent(String.self, forKey: .endpoint)
        credential = try container.decode(CredentialConfiguration.self, forKey: .credential)
        let more = try container.decodeIfPresent([OutputConfiguration].self, forKey: .outputs) ?? []
        if more.isEmpty || container.contains(.output) {
            outputs = [try container.decode(OutputConfiguration.self, forKey: .output)] + more
        } else {
            outputs = more
        }
        notify = try container.decodeIfPresent(NotifyConfiguration.self, forKey: .notify)
    }
}

/// How an account authenticates: one case per credential type, each holding what that type uses
/// and nothing else (``Source``), so that no combination the types do not allow can be represented.
/// The file's flat keys (`type`, `keyFile`, `tenantId`...) are sorted into it as they are decoded;
/// a key that does not fit the type, or a required one missing, is a problem of the file
/// (``ConfigValidator`` reports it with its key path).
public struct CredentialConfiguration: Decodable, Sendable, Hashable {
    /// The kinds of credential.
    public enum Kind: String, Sendable, Hashable, ConfigWord {
        case accountKey, workloadIdentity, clientSecret, clientCertificate, managedIdentity
        case `default` = "default"
        static var placeholder: Kind { .accountKey }
    }

    /// An Entra ID application; `nil` defaults to `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`.
    public struct Application: Sendable, Hashable {
        public var tenantId: String?
        public var clientId: String?

        public init(tenantId: String? = nil, clientId: String? = nil) {
            self.tenantId = tenantId
            self.clientId = clientId
        }
    }

    /// A user-assigned managed identity, by one of its ids.
    public enum ManagedIdentity: Sendable, Hashable {
        case clientId(String)
        case objectId(String)
        case resourceId(String)
    }

    /// What each kind of credential uses.
    public enum Source: Sendable, Hashable {
        /// The files of the account's keys (`keyFile`, or 1 to 4 `keyFiles` such as the primary and
        /// the secondary: the first the STS accepts is used, a refusal moves to the next at once),
        /// each re-read at every exchange.
        case accountKey(keyFiles: [String])
        /// Workload identity federation; the projected token file defaults to
        /// `AZURE_FEDERATED_TOKEN_FILE`.
        case workloadIdentity(Application, tokenFile: String?)
        /// A client secret, in a file re-read at every exchange.
        case clientSecret(Application, secretFile: String)
        /// A client certificate: PEM with the certificate and its key; `sendCertificateChain` sends
        /// the x5c chain.
        case clientCertificate(Application, certificateFile: String, sendCertificateChain: Bool)
        /// The pod's managed identity: the system-assigned one (`nil`) or a user-assigned one.
        case managedIdentity(ManagedIdentity?)
        /// The default chain (environment, workload identity, managed identity), with an
        /// application or a user-assigned identity's client id from the file if given.
        case `default`(Application)
    }

    /// What the credential uses.
    public var source: Source
    /// Entra kinds and `default`: the authority (default `AZURE_AUTHORITY_HOST`, then the public
    /// cloud).
    public var authorityHost: String?
    /// Entra kinds, `managedIdentity` and `default`: the scope (default
    /// `https://sts.mixedreality.azure.com//.default`).
    public var scope: String?
    /// What did not fit the type as the file was read: key (relative to `credential`) and problem.
    /// Empty in a configuration that loaded.
    package var problems: [Problem] = []

    /// A key of the file that does not fit its credential's type.
    package struct Problem: Sendable, Hashable {
        package var key: String
        package var message: String
    }

    public init(_ source: Source, authorityHost: String? = nil, scope: String? = nil) {
        self.source = source
        self.authorityHost = authorityHost
        self.scope = scope
    }

    /// The kind.
    public var type: Kind {
        switch source {
        case .accountKey: .accountKey
        case .workloadIdentity: .workloadIdentity
        case .clientSecret: .clientSecret
        case .clientCertificate: .clientCertificate
        case .managedIdentity: .managedIdentity
        case .default: .default
        }
    }

    /// `accountKey`: the key files; empty for the other kinds.
    public var accountKeyFiles: [String] {
        if case .accountKey(let files) = source { return files }
        return []
    }

    /// The Entra ID application of the Entra kinds and `default`.
    public var application: Application? {
        switch source {
        case .workloadIdentity(let application, _), .clientSecret(let application, _),
            .clientCertificate(let application, _, _), .default(let application):
            application
        case .accountKey, .managedIdentity: nil
        }
    }

    /// The files of secrets the credential reads, each with its key in the file: the key files,
    /// the client secret, the certificate and key, the projected token.
    public var secretFiles: [(key: String, path: String)] {
        switch source {
        case .accountKey(let files):
            files.count == 1
                ? [("keyFile", files[0])] : files.enumerated().map { ("keyFiles[\($0.offset)]", $0.element) }
        case .workloadIdentity(_, let tokenFile): tokenFile.map { [("tokenFile", $0)] } ?? []
        case .clientSecret(_, let secretFile): [("secretFile", secretFile)]
        case .clientCertificate(_, let certificateFile, _): [("certificateFile", certificateFile)]
        case .managedIdentity, .default: []
        }
    }

    enum CodingKeys: String, CodingKey {
        case type, keyFile, keyFiles, tenantId, clientId, objectId, resourceId, tokenFile, secretFile,
            certificateFile, sendCertificateChain, authorityHost, scope
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(Kind.self, forKey: .type)
        var given: [CodingKeys: String] = [:]
        for key in [
            CodingKeys.keyFile, .tenantId, .clientId, .objectId, .resourceId, .tokenFile, .secretFile,
            .certificateFile, .authorityHost, .scope,
        ] {
            if let value = try container.decodeIfPresent(String.self, forKey: key) { given[key] = value }
        }
        let keyFiles = try container.decodeIfPresent([String].self, forKey: .keyFiles)
        let sendCertificateChain = try container.decodeIfPresent(Bool.self, forKey: .sendCertificateChain)
        var problems: [Problem] = []
        func required(_ key: CodingKeys) -> String {
            if let value = given[key], !value.isEmpty { return value }
            problems.append(Problem(key: key.stringValue, message: "required for type \(kind.rawValue)"))
            return ""
        }
        let application = Application(tenantId: given[.tenantId], clientId: given[.clientId])
        switch kind {
        case .accountKey:
            if let keyFiles {
                if given[.keyFile] != nil {
                    problems.append(Problem(key: "keyFiles", message: "give keyFile or keyFiles, not both"))
                }
                if keyFiles.isEmpty || keyFiles.count > 4 {
                    problems.append(
                        Problem(
                            key: "keyFiles", message: "give 1 to 4 key files, such as the primary and the secondary key"
                        ))
                }
                for (position, file) in keyFiles.enumerated() where !file.hasPrefix("/") {
                    problems.append(Problem(key: "keyFiles[\(position)]", message: ConfigValidator.notAbsolute))
                }
                if Set(keyFiles).count != keyFiles.count {
                    problems.append(Problem(key: "keyFiles", message: "names a file twice"))
                }
                source = .accountKey(keyFiles: keyFiles)
            } else {
                source = .accountKey(keyFiles: [required(.keyFile)])
            }
        case .workloadIdentity:
            source = .workloadIdentity(application, tokenFile: given[.tokenFile])
        case .clientSecret:
            source = .clientSecret(application, secretFile: required(.secretFile))
        case .clientCertificate:
            source = .clientCertificate(
                application, certificateFile: required(.certificateFile),
                sendCertificateChain: sendCertificateChain ?? false)
        case .managedIdentity:
            let ids: [ManagedIdentity] = [
                given[.clientId].map { .clientId($0) }, given[.objectId].map { .objectId($0) },
                given[.resourceId].map { .resourceId($0) },
            ].compactMap { $0 }
            if ids.count > 1 {
                problems.append(Problem(key: "", message: "give at most one of clientId, objectId, resourceId"))
            }
            source = .managedIdentity(ids.first)
        case .default:
            source = .default(application)
        }
        authorityHost = given[.authorityHost]
        scope = given[.scope]
        // The keys each kind uses; any other given is a mistake worth saying (it would be ignored).
        let entra: Set<Kind> = [.workloadIdentity, .clientSecret, .clientCertificate]
        let usedBy: [(CodingKeys, Set<Kind>)] = [
            (.keyFile, [.accountKey]), (.keyFiles, [.accountKey]), (.tokenFile, [.workloadIdentity]),
            (.secretFile, [.clientSecret]), (.certificateFile, [.clientCertificate]),
            (.sendCertificateChain, [.clientCertificate]), (.objectId, [.managedIdentity]),
            (.resourceId, [.managedIdentity]), (.tenantId, entra.union([.default])),
            (.clientId, entra.union([.managedIdentity, .default])), (.authorityHost, entra.union([.default])),
            (.scope, entra.union([.managedIdentity, .default])),
        ]
        for (key, kinds) in usedBy where container.contains(key) && !kinds.contains(kind) {
            problems.append(
                Problem(
                    key: key.stringValue,
                    message:
                        "is not used by type \(kind.rawValue); it is for \(kinds.map(\.rawValue).sorted().joined(separator: ", "))"
                ))
        }
        for key in [CodingKeys.keyFile, .tokenFile, .secretFile, .certificateFile] {
            if let file = given[key], !file.hasPrefix("/") {
                problems.append(Problem(key: key.stringValue, message: ConfigValidator.notAbsolute))
            }
        }
        self.problems = problems
    }
}

/// Where and how a token is written.
public struct OutputConfiguration: Decodable, Sendable, Hashable {
    /// The output formats.
    public enum Format: String, Sendable, Hashable, ConfigWord {
        /// The JWT alone.
        case token
        /// `{"accessToken", "expiresOn", "expiresOnTimestamp", "accountId", "accountDomain", "refreshedAt"}`.
        case json
        /// `MIXED_REALITY_ACCESS_TOKEN=...` and `MIXED_REALITY_TOKEN_EXPIRES_ON=...` lines.
        case env
        static var placeholder: Format { .token }
    }

    /// The file (absolute path).
    public var path: String
    /// The format (default `token`).
    public var format: Format
    /// The mode, an octal string (default `"0440"`).
    public var mode: FileMode
    /// The owner's numeric id, optional.
    public var owner: Int?
    /// The group's numeric id, optional.
    public var group: Int?
    /// How soon after a new token is written the application should have read it; past that, a
    /// warning is logged once (and `mr_token_read_since_write` stays 0). Optional.
    public var expectReadWithin: ConfigDuration?

    enum CodingKeys: String, CodingKey { case path, format, mode, owner, group, expectReadWithin }

    public init(
        path: String, format: Format = .token, mode: FileMode = FileMode(bits: 0o440), owner: Int? = nil,
        group: Int? = nil, expectReadWithin: ConfigDuration? = nil
    ) {
        self.path = path
        self.format = format
        self.mode = mode
        self.owner = owner
        self.group = group
        self.expectReadWithin = expectReadWithin
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        format = try container.decodeIfPresent(Format.self, forKey: .format) ?? .token
        mode = try container.decodeIfPresent(FileMode.self, forKey: .mode) ?? FileMode(bits: 0o440)
        owner = try container.decodeIfPresent(Int.self, forKey: .owner)
        group = try container.decodeIfPresent(Int.self, forKey: .group)
        expectReadWithin = try container.decodeIfPresent(ConfigDuration.self, forKey: .expectReadWithin)
    }
}

/// Whom to tell after a new token is written.
public struct NotifyConfiguration: Decodable, Sendable, Hashable {
    /// A signal to the process whose pid is in a file (re-read each time).
    public struct Signal: Decodable, Sendable, Hashable {
        public var pidFile: String
        public var name: SignalName
        public init(pidFile: String, name: SignalName) {
            self.pidFile = pidFile
            self.name = name
        }
    }

    /// The signals that can be sent.
    public enum SignalName: String, Sendable, Hashable, ConfigWord {
        case SIGHUP, SIGUSR1, SIGUSR2, SIGINT, SIGTERM, SIGQUIT, SIGWINCH
        static var placeholder: SignalName { .SIGHUP }
        package var number: Int32 {
            switch self {
            case .SIGHUP: 1
            case .SIGINT: 2
            case .SIGQUIT: 3
            case .SIGUSR1: 10
            case .SIGUSR2: 12
            case .SIGTERM: 15
            case .SIGWINCH: 28
            }
        }
    }

    public var signal: Signal?
    /// A URL to POST `{"account", "expiresOn"}` to (never the token).
    public var httpPost: String?

    public init(signal: Signal? = nil, httpPost: String? = nil) {
        self.signal = signal
        self.httpPost = httpPost
    }
}

/// When tokens are refreshed.
public struct RefreshConfiguration: Decodable, Sendable, Hashable {
    /// The fraction of the lifetime after which a token is refreshed (default 0.5).
    public var at: Double
    /// ± this fraction of the lifetime, at random (default 0.1).
    public var jitter: Double
    /// The first backoff after a failure (default 1s).
    public var minBackoff: ConfigDuration
    /// The longest backoff (default 5m).
    public var maxBackoff: ConfigDuration
    /// At most this many exchanges at once (default 8).
    public var maxConcurrent: Int

    enum CodingKeys: String, CodingKey { case at, jitter, minBackoff, maxBackoff, maxConcurrent }

    public init(
        at: Double = 0.5, jitter: Double = 0.1, minBackoff: ConfigDuration = .init(.seconds(1)),
        maxBackoff: ConfigDuration = .init(.seconds(300)), maxConcurrent: Int = 8
    ) {
        self.at = at
        self.jitter = jitter
        self.minBackoff = minBackoff
        self.maxBackoff = maxBackoff
        self.maxConcurrent = maxConcurrent
    }

    public init(from decoder: any Decoder) throws {
        let defaults = RefreshConfiguration()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        at = try container.decodeIfPresent(Double.self, forKey: .at) ?? defaults.at
        jitter = try container.decodeIfPresent(Double.self, forKey: .jitter) ?? defaults.jitter
        minBackoff = try container.decodeIfPresent(ConfigDuration.self, forKey: .minBackoff) ?? defaults.minBackoff
        maxBackoff = try container.decodeIfPresent(ConfigDuration.self, forKey: .maxBackoff) ?? defaults.maxBackoff
        maxConcurrent = try container.decodeIfPresent(Int.self, forKey: .maxConcurrent) ?? defaults.maxConcurrent
    }
}

/// Whom the sidecar's TLS connections to the hosts the operator allowed trust (a private STS, the
/// emulator). Azure's own hosts are trusted through the system's CA store and the operator's
/// `--ca-file` only: the file cannot add trust where the account key or client secret travels.
public struct TLSSection: Decodable, Sendable, Hashable {
    /// A PEM bundle of CA certificates trusted on top of the system store.
    public var caFile: String?
    /// Whether the system's CA store is trusted (default `true`); `false` trusts `caFile` alone,
    /// for a private endpoint whose CA is known (the validator requires `caFile` then).
    public var systemRoots: Bool

    public init(caFile: String? = nil, systemRoots: Bool = true) {
        self.caFile = caFile
        self.systemRoots = systemRoots
    }

    enum CodingKeys: String, CodingKey { case caFile, systemRoots }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        caFile = try container.decodeIfPresent(String.self, forKey: .caFile)
        systemRoots = try container.decodeIfPresent(Bool.self, forKey: .systemRoots) ?? true
    }
}

/// The probes and metrics server.
public struct ServerConfiguration: Decodable, Sendable, Hashable {
    /// `host:port` to listen on (default `0.0.0.0:8787`); empty disables the server.
    public var address: String
    /// `/readyz` passes while every token is valid this much longer (default 5m).
    public var readyMinValidity: ConfigDuration
    /// Whether `/status` (account ids, paths, error texts) answers clients outside the pod too
    /// (default `false`: loopback only, such as `kubectl port-forward`).
    public var exposeStatus: Bool

    enum CodingKeys: String, CodingKey { case address, readyMinValidity, exposeStatus }

    public init(
        address: String = "0.0.0.0:8787", readyMinValidity: ConfigDuration = .init(.seconds(300)),
        exposeStatus: Bool = false
    ) {
        self.address = address
        self.readyMinValidity = readyMinValidity
        self.exposeStatus = exposeStatus
    }

    public init(from decoder: any Decoder) throws {
        let defaults = ServerConfiguration()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        address = try container.decodeIfPresent(String.self, forKey: .address) ?? defaults.address
        readyMinValidity =
            try container.decodeIfPresent(ConfigDuration.self, forKey: .readyMinValidity) ?? defaults.readyMinValidity
        exposeStatus = try container.decodeIfPresent(Bool.self, forKey: .exposeStatus) ?? defaults.exposeStatus
    }

    /// The host and port, or `nil` when disabled.
    public var hostAndPort: (host: String, port: Int)? {
        guard !address.isEmpty, let colon = address.lastIndex(of: ":"),
            let port = Int(address[address.index(after: colon)...])
        else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}

/// Logging.
public struct LogConfiguration: Decodable, Sendable, Hashable {
    public enum Level: String, Sendable, Hashable, ConfigWord {
        case trace, debug, info, notice, warning, error, critical
        static var placeholder: Level { .info }
    }
    public enum Format: String, Sendable, Hashable, ConfigWord {
        case json, text
        static var placeholder: Format { .json }
    }
    /// The level (default `info`).
    public var level: Level
    /// `json` lines (default) or `text`.
    public var format: Format

    enum CodingKeys: String, CodingKey { case level, format }

    public init(level: Level = .info, format: Format = .json) {
        self.level = level
        self.format = format
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        level = try container.decodeIfPresent(Level.self, forKey: .level) ?? .info
        format = try container.decodeIfPresent(Format.self, forKey: .format) ?? .json
    }
}
