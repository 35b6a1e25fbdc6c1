import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the operator decides in the pod spec (the sidecar's flags and environment), which the
/// config file cannot change: the hosts secrets may go to besides Azure's own, the extra CA
/// trusted with them in transit, and the scopes an Entra ID identity may be asked for. Whoever
/// can edit a ConfigMap edits the file; only whoever writes the pod spec sets these.
public struct OperatorPolicy: Sendable, Hashable {
    /// The command line's part, kept so that a reload reads the new file under the same policy.
    public struct Flags: Sendable, Hashable {
        /// `--allowed-hosts`.
        public var allowedHosts: [String]
        /// `--ca-file`.
        public var caFile: String?
        /// `--allowed-scopes`.
        public var allowedScopes: [String]

        /// - Parameters:
        ///   - allowedHosts: Host names or IP addresses (`--allowed-hosts`).
        ///   - caFile: A PEM bundle of CA certificates (`--ca-file`), optional.
        ///   - allowedScopes: Entra ID scopes (`--allowed-scopes`).
        public init(allowedHosts: [String] = [], caFile: String? = nil, allowedScopes: [String] = []) {
            self.allowedHosts = allowedHosts
            self.caFile = caFile
            self.allowedScopes = allowedScopes
        }
    }

    /// The variable naming the operator's extra CA bundle (`--ca-file`).
    public static let caFileVariable = "MR_TOKEN_SIDECAR_CA_FILE"
    /// The Mixed Reality resource's scope, the default (protocol's Decisions table).
    public static let mixedRealityScope = "https://sts.mixedreality.azure.com//.default"
    /// The variable listing extra Entra ID scopes (`--allowed-scopes`), comma-separated.
    public static let allowedScopesVariable = "MR_TOKEN_SIDECAR_ALLOWED_SCOPES"

    /// The variable lowering the floor of `refresh.minBackoff` (a duration, default `1s`), for
    /// tests and benchmarks that rotate tokens as fast as they can; the file cannot lower it.
    public static let backoffFloorVariable = "MR_TOKEN_SIDECAR_MIN_BACKOFF_FLOOR"
    /// The floor of `refresh.minBackoff` when ``backoffFloorVariable`` is not set: shorter, a
    /// failing account would call the STS hundreds of times a second.
    public static let defaultBackoffFloor = Duration.seconds(1)

    /// The flags this policy was built from.
    public let flags: Flags
    /// Where secrets may go: Azure's STS and Entra ID hosts, and the hosts allowed here.
    public let egress: EgressPolicy
    /// A PEM bundle of CA certificates trusted on top of the system's for every request, Azure's
    /// hosts included (a TLS-inspecting egress proxy's CA): `--ca-file`, then
    /// `MR_TOKEN_SIDECAR_CA_FILE`.
    public let caFile: String?
    /// Entra ID scopes allowed besides the Mixed Reality resource's.
    public let allowedScopes: Set<String>
    /// The shortest `refresh.minBackoff` the file may set.
    public let backoffFloor: Duration

    /// No flags, no environment: Azure's hosts and the Mixed Reality scope only.
    public init() {
        flags = Flags()
        egress = EgressPolicy()
        caFile = nil
        allowedScopes = []
        backoffFloor = Self.defaultBackoffFloor
    }

    /// The policy of `flags` and of the `MR_TOKEN_SIDECAR_*` variables of `environment`.
    /// - Throws: ``ConfigValueError`` naming the flag or variable whose value is not usable.
    package init(flags: Flags, environment: [String: String]) throws(ConfigValueError) {
        self.flags = flags
        var hosts = flags.allowedHosts
        if let list = environment[EgressPolicy.variable] {
            do {
                hosts += try EgressPolicy.parse(list)
            } catch {
                throw ConfigValueError("\(EgressPolicy.variable): \(error.message)")
            }
        }
        egress = EgressPolicy(allowedHosts: hosts)
        let fromEnvironment = environment[Self.caFileVariable].flatMap { $0.trimmed.isEmpty ? nil : $0.trimmed }
        if let file = flags.caFile ?? fromEnvironment {
            let source = flags.caFile != nil ? "--ca-file" : Self.caFileVariable
            guard file.hasPrefix("/") else {
                throw ConfigValueError("\(source) must be an absolute path to a PEM file of CA certificates")
            }
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw ConfigValueError(
                    "\(source): \(LogText.bounded(file)) is not a readable file: mount the CA bundle there")
            }
            caFile = file
        } else {
            caFile = nil
        }
        var scopes = flags.allowedScopes
        if let list = environment[Self.allowedScopesVariable] { scopes += Self.parseScopes(list) }
        allowedScopes = Set(scopes)
        if let text = environment[Self.backoffFloorVariable], !text.trimmed.isEmpty {
            do {
                backoffFloor = try ConfigDuration.parse(text)
            } catch {
                throw ConfigValueError("\(Self.backoffFloorVariable): \(error.message)")
            }
        } else {
            backoffFloor = Self.defaultBackoffFloor
        }
    }

    /// The entries of a comma-separated list of scopes.
    package static func parseScopes(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty }
    }

    /// Whether an Entra ID identity may be asked for a token for `scope`: the Mixed Reality
    /// resource's (``isMixedRealityScope(_:)``), or one the operator allowed.
    public func allowsScope(_ scope: String) -> Bool {
        allowedScopes.contains(scope) || Self.isMixedRealityScope(scope)
    }

    /// Whether `scope` names the Mixed Reality STS as a resource: `https://` and a host under
    /// `mixedreality.azure.com` (the regionless `sts.mixedreality.azure.com` or a regional STS),
    /// then nothing, `/`, `/.default` or `//.default` (protocol §1.7: the SDKs disagree on the
    /// slash; managed identity takes the resource without `/.default`).
    public static func isMixedRealityScope(_ scope: String) -> Bool {
        guard scope.lowercased().hasPrefix("https://") else { return false }
        let rest = scope.dropFirst("https://".count)
        let host = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(host.count)
        guard ["", "/", "/.default", "//.default"].contains(path), HostNameRule.isValid(String(host), minimumLabels: 3)
        else { return false }
        return EgressPolicy().allowsSTS(String(host))
    }

    /// Whether requests to `host` may use the trust and proxy the config file names: only hosts the
    /// operator listed (`--allowed-hosts`, `MR_TOKEN_SIDECAR_ALLOWED_HOSTS`).
    public func opensTransport(to host: String) -> Bool {
        egress.allowedHosts.contains(EgressPolicy.normalized(host))
    }
}
