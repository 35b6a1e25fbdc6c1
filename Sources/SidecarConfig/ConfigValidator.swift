import AzureCore
import DaemonFiles

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The checks that need more than one value, or the environment.
struct ConfigValidator {
    let lines: [String: Int]
    let environment: [String: String]
    private var issues: [ConfigIssue] = []

    let policy: OperatorPolicy
    var egress: EgressPolicy { policy.egress }
    /// Every host an account sends a secret to that is Azure's own rather than one the operator
    /// allowed, with the account's key path: where the file's `tls` and `proxy` must not apply.
    private var azureDestinations: [(account: String, host: String)] = []

    init(lines: [String: Int], environment: [String: String], policy: OperatorPolicy) {
        self.policy = policy
        self.lines = lines
        self.environment = environment
    }

    private mutating func add(_ path: String, _ message: String) {
        var lookup = path
        var line = lines[lookup]
        while line == nil, let cut = lookup.lastIndex(where: { $0 == "." || $0 == "[" }) {
            lookup = String(lookup[..<cut])
            line = lines[lookup]
        }
        issues.append(ConfigIssue(path: path, line: line, message: message))
    }

    mutating func validate(_ configuration: SidecarConfiguration) -> [ConfigIssue] {
        if configuration.accounts.isEmpty { add("accounts", "give at least one account") }
        var names: [AccountName: Int] = [:]
        var outputs: [String: Int] = [:]
        for (index, account) in configuration.accounts.enumerated() {
            let path = "accounts[\(index)]"
            if let first = names[account.name] {
                add(
                    "\(path).name",
                    "\"\(account.name)\" is already the name of accounts[\(first)]: names must be unique")
            } else {
                names[account.name] = index
            }
            checkDestinations(account, path: path)
            validate(account.credential, path: "\(path).credential")
            // `output` is the first of the outputs when the file gives it; the rest are `outputs[i]`.
            let single = lines["\(path).output"] != nil
            for (position, output) in account.outputs.enumerated() {
                let key =
                    single
                    ? (position == 0 ? "\(path).output" : "\(path).outputs[\(position - 1)]")
                    : "\(path).outputs[\(position)]"
                validate(output, key: key, account: account, index: index, outputs: &outputs)
            }
            if let notify = account.notify {
                if notify.signal == nil && notify.httpPost == nil {
                    add("\(path).notify", "give signal or httpPost, or remove notify")
                }
                if let signal = notify.signal, !signal.pidFile.hasPrefix("/") {
                    add("\(path).notify.signal.pidFile", Self.notAbsolute)
                }
                if let url = notify.httpPost { checkURL(url, path: "\(path).notify.httpPost", httpsOnly: false) }
            }
        }
        let refresh = configuration.refresh
        if !(refresh.at > 0 && refresh.at < 1) {
            add("refresh.at", "\(refresh.at) must be between 0 and 1 (exclusive), such as 0.5")
        }
        if !(refresh.jitter >= 0 && refresh.jitter < 0.5) || refresh.jitter >= min(refresh.at, 1 - refresh.at) {
            add(
                "refresh.jitter",
                "\(refresh.jitter) must be at least 0 and smaller than refresh.at and 1 - refresh.at, such as 0.1")
        }
        if refresh.minBackoff.duration <= .zero {
            add("refresh.minBackoff", "must be longer than 0, such as 1s")
        } else if refresh.minBackoff.duration < policy.backoffFloor {
            let perSecond = Int((1 / refresh.minBackoff.duration.seconds).rounded())
            add(
                "refresh.minBackoff",
                "\(refresh.minBackoff) is shorter than \(ConfigDuration(policy.backoffFloor)): a failing account would"
                    + " call the STS up to \(perSecond) times a second; use \(ConfigDuration(policy.backoffFloor)) or more"
            )
        }
        if refresh.maxBackoff.duration < refresh.minBackoff.duration {
            add(
                "refresh.maxBackoff", "\(refresh.maxBackoff) is shorter than refresh.minBackoff (\(refresh.minBackoff))"
            )
        }
        if !(1...256).contains(refresh.maxConcurrent) {
            add("refresh.maxConcurrent", "\(refresh.maxConcurrent) must be between 1 and 256")
        }
        if let proxy = configuration.proxy, !proxy.url.isEmpty {
            do {
                _ = try ProxySettings.resolve(option: proxy.pipelineProxy, environment: [:])
            } catch {
                add("proxy.url", "\(error.message.replacing("the proxy option is", with: "it is"))")
            }
        }
        if let caFile = configuration.tls.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            add("tls.caFile", "is not a readable file: check the path and that the file is mounted")
        }
        checkTransport(configuration)
        if !configuration.tls.systemRoots && configuration.tls.caFile == nil {
            add(
                "tls.systemRoots",
                "false trusts tls.caFile alone, and there is none: give tls.caFile, or remove systemRoots")
        }
        let server = configuration.server
        if !server.address.isEmpty {
            if let (_, port) = server.hostAndPort {
                if !(0...65535).contains(port) { add("server.address", "port \(port) is not between 0 and 65535") }
            } else {
                add(
                    "server.address",
                    "\"\(LogText.bounded(server.address))\" must be host:port, such as 0.0.0.0:8787 (empty disables the server)"
                )
            }
        }
        if server.readyMinValidity.duration < .zero { add("server.readyMinValidity", "must not be negative") }
        return issues
    }

    /// One output of an account: an absolute file path no other output uses, a mode that lets the
    /// owner read and nobody else write, numeric ids.
    private mutating func validate(
        _ output: OutputConfiguration, key path: String, account: AccountConfiguration, index: Int,
        outputs: inout [String: Int]
    ) {
        if !output.path.hasPrefix("/") {
            add(
                "\(path).path",
                "\"\(LogText.bounded(output.path))\" must be an absolute path, such as /var/run/mixedreality/\(account.name).token"
            )
        } else if output.path.hasSuffix("/") {
            add("\(path).path", "\"\(LogText.bounded(output.path))\" is a folder: name the file")
        } else {
            // The same file may be named through another path (`/var/run/x` and `/run/x`, a linked folder).
            let normalized = PathProbe.resolvedPath(output.path)
            if let first = outputs[normalized] {
                add(
                    "\(path).path",
                    first == index
                        ? "is also another output of this account: each output needs its own file"
                        : "is also the output of accounts[\(first)]: each account needs its own file")
            } else {
                outputs[normalized] = index
            }
        }
        if output.mode.bits & 0o400 == 0 {
            add("\(path).mode", "\"\(output.mode)\" does not let the owner read the file; use \"0440\" or \"0400\"")
        }
        if output.mode.bits & 0o002 != 0 {
            add("\(path).mode", "\"\(output.mode)\" makes the token readable and writable by everyone; use \"0440\"")
        }
        for (key, value) in [("owner", output.owner), ("group", output.group)] {
            if let value, value < 0 || value > 0x7FFF_FFFF { add("\(path).\(key)", "\(value) is not a numeric id") }
        }
        if let within = output.expectReadWithin, within.duration <= .zero {
            add("\(path).expectReadWithin", "must be longer than 0, such as 10m")
        }
    }

    /// The URL, or `nil` with the problem added: absolute, http(s) (https only when it carries a
    /// credential), no user info.
    @discardableResult
    private mutating func checkURL(_ text: String, path: String, httpsOnly: Bool) -> URL? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else {
            add(path, "\"\(LogText.bounded(text))\" is not an absolute URL")
            return nil
        }
        if httpsOnly && scheme != "https" {
            add(path, "\"\(LogText.bounded(text))\" must be an https:// URL: the request carries a credential")
            return nil
        }
        if !["http", "https"].contains(scheme) {
            add(path, "\"\(LogText.bounded(text))\" must be an http:// or https:// URL")
            return nil
        }
        if url.user != nil || url.password != nil {
            add(path, "\"\(LogText.bounded(text))\" carries user info (user@host): give the URL without it")
            return nil
        }
        return url
    }

    /// The account domain, and where the account's secrets go: the STS host and, for Entra ID
    /// credentials, the authority host, each an Azure cloud's or allowed outside the file.
    private mutating func checkDestinations(_ account: AccountConfiguration, path: String) {
        let domain = account.accountDomain.trimmed
        var stsHost: String?
        var stsPath = "\(path).accountDomain"
        if domain.isEmpty {
            add(stsPath, "is empty: give the account domain, such as eastus2.mixedreality.azure.com")
        } else if !HostNameRule.isValid(domain, minimumLabels: 2) {
            add(stsPath, "\"\(LogText.bounded(domain))\" is not a DNS host name such as eastus2.mixedreality.azure.com")
        } else {
            stsHost = "sts." + domain
        }
        if let endpoint = account.endpoint {
            stsPath = "\(path).endpoint"
            stsHost = checkURL(endpoint, path: stsPath, httpsOnly: true)?.host
        }
        if let stsHost, egress.allowsSTS(stsHost), !policy.opensTransport(to: stsHost) {
            azureDestinations.append((path, stsHost))
        }
        if let stsHost, !egress.allowsSTS(stsHost) {
            add(
                stsPath,
                "the STS host \(LogText.bounded(stsHost)) is not a Mixed Reality STS of an Azure cloud (*.mixedreality.azure.com):"
                    + " secrets go there only if it is allowed with --allowed-hosts or \(EgressPolicy.variable), which the config file cannot set"
            )
        }
        let credential = account.credential
        guard [.workloadIdentity, .clientSecret, .clientCertificate, .default].contains(credential.type) else { return }
        let fromEnvironment = environment["AZURE_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 }
        guard let text = credential.authorityHost ?? fromEnvironment else {
            if !policy.opensTransport(to: EgressPolicy.authorityHosts[0]) {
                azureDestinations.append((path, EgressPolicy.authorityHosts[0]))  // the public cloud
            }
            return
        }
        let authorityPath = credential.authorityHost != nil ? "\(path).credential.authorityHost" : path
        let source = credential.authorityHost != nil ? "the authority host" : "AZURE_AUTHORITY_HOST"
        guard let host = checkURL(text, path: authorityPath, httpsOnly: true)?.host else { return }
        if egress.allowsAuthority(host), !policy.opensTransport(to: host) { azureDestinations.append((path, host)) }
        if !egress.allowsAuthority(host) {
            add(
                authorityPath,
                "\(source) \(LogText.bounded(host)) is not an Entra ID authority of an Azure cloud"
                    + " (\(EgressPolicy.authorityHosts.joined(separator: ", "))): secrets go there only if it is allowed"
                    + " with --allowed-hosts or \(EgressPolicy.variable), which the config file cannot set"
            )
        }
    }

    /// The file's `tls.caFile`, `tls.systemRoots: false` and `proxy` apply to the hosts the operator
    /// allowed, and to those only: refused when an account sends a secret to one of Azure's own
    /// hosts, whose trust and proxy come from the pod spec (`--ca-file`, `HTTPS_PROXY`), so that
    /// whoever edits the file cannot read a secret in transit.
    private mutating func checkTransport(_ configuration: SidecarConfiguration) {
        guard let (account, host) = azureDestinations.first else { return }
        let others = Set(azureDestinations.map(\.account)).count - 1
        let more = others == 0 ? "" : others == 1 ? " (and 1 more account)" : " (and \(others) more accounts)"
        let who = "\(account)\(more) sends its secret to \(host), one of Azure's own hosts"
        let scope =
            "applies only to the hosts the operator allowed (--allowed-hosts or \(EgressPolicy.variable)), and \(who)"
        if configuration.tls.caFile != nil {
            add(
                "tls.caFile",
                "\(scope): a CA trusted for Azure's hosts is the operator's to give, with --ca-file or"
                    + " \(OperatorPolicy.caFileVariable) in the pod spec; remove tls.caFile")
        }
        if !configuration.tls.systemRoots {
            add(
                "tls.systemRoots",
                "false \(scope): Azure's hosts are always checked against the system's CA store (and the"
                    + " operator's --ca-file or \(OperatorPolicy.caFileVariable)); remove tls.systemRoots")
        }
        if configuration.proxy != nil {
            add(
                "proxy",
                "\(scope): a proxy for Azure's hosts is the operator's to choose, with HTTPS_PROXY and"
                    + " NO_PROXY in the pod spec; remove proxy")
        }
    }

    /// The message for a `*File` key that is not an absolute path. The value is not repeated: a
    /// key or secret pasted in its place would land in logs and the termination message.
    static let notAbsolute = "must be an absolute path (such as /var/run/secrets/...); the value is not shown here"

    /// The credential: what its decoding found (a key that does not fit its type, a required one
    /// missing), then what needs the environment or the operator's policy.
    private mutating func validate(_ credential: CredentialConfiguration, path: String) {
        for problem in credential.problems {
            add(problem.key.isEmpty ? path : "\(path).\(problem.key)", problem.message)
        }
        checkAllowed(credential.type, path: path)
        checkRequiredFromEnvironment(credential, path: path)
        if let tenant = credential.application?.tenantId, !TenantIdRule.isValid(tenant) {
            add(
                "\(path).tenantId",
                "\"\(LogText.bounded(tenant))\" is not a tenant id: use letters, digits, '-' and '.'")
        }
        if let scope = credential.scope { checkScope(scope, path: path) }
    }

    /// The kinds the cluster admin allows in this pod (`MR_TOKEN_SIDECAR_ALLOWED_CREDENTIALS`).
    private mutating func checkAllowed(_ kind: CredentialConfiguration.Kind, path: String) {
        guard let allowed = env(ConfigLoader.allowedCredentialsVariable) else { return }
        let kinds = allowed.split(separator: ",").map { $0.trimmed }
        if !kinds.contains(kind.rawValue) {
            add(
                "\(path).type",
                "\(kind.rawValue) is not allowed in this pod: the cluster admin allows \(kinds.joined(separator: ", "))"
                    + " (\(ConfigLoader.allowedCredentialsVariable))")
        }
    }

    /// What the Entra kinds need, from the file or the `AZURE_*` variables.
    private mutating func checkRequiredFromEnvironment(_ credential: CredentialConfiguration, path: String) {
        var required: [(key: String, value: String?, variable: String)] = []
        switch credential.source {
        case .workloadIdentity(let application, let tokenFile):
            required = [
                ("tenantId", application.tenantId, "AZURE_TENANT_ID"),
                ("clientId", application.clientId, "AZURE_CLIENT_ID"),
                ("tokenFile", tokenFile, "AZURE_FEDERATED_TOKEN_FILE"),
            ]
        case .clientSecret(let application, _), .clientCertificate(let application, _, _):
            required = [
                ("tenantId", application.tenantId, "AZURE_TENANT_ID"),
                ("clientId", application.clientId, "AZURE_CLIENT_ID"),
            ]
        case .accountKey, .managedIdentity, .default:
            break
        }
        for (key, value, variable) in required where (value ?? "").isEmpty && env(variable) == nil {
            add("\(path).\(key)", "required for type \(credential.type.rawValue) (or set \(variable))")
        }
    }

    /// A scope other than the Mixed Reality resource needs the operator's allowance.
    private mutating func checkScope(_ scope: String, path: String) {
        if scope.isEmpty {
            add("\(path).scope", "is empty")
        } else if !policy.allowsScope(scope) {
            add(
                "\(path).scope",
                "\"\(LogText.bounded(scope))\" is not the Mixed Reality resource (such as the default,"
                    + " \(OperatorPolicy.mixedRealityScope)): a token for another resource is asked for only if"
                    + " the operator allows it with --allowed-scopes or \(OperatorPolicy.allowedScopesVariable),"
                    + " which the config file cannot set")
        }
    }

    private func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
}
