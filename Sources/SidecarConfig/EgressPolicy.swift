import AzureCore

/// The hosts the sidecar may send a secret to: the STS and Entra ID hosts of the Azure clouds,
/// plus the hosts the operator allows on the command line (`--allowed-hosts`) or in the container's
/// environment (`MR_TOKEN_SIDECAR_ALLOWED_HOSTS`), never in the config file: whoever can edit a
/// ConfigMap must not be able to send the account key, the client secret or the workload identity
/// assertion elsewhere.
///
/// Managed identity endpoints come from the container's environment (IMDS,
/// `IDENTITY_ENDPOINT`) and are not checked.
public struct EgressPolicy: Sendable, Hashable {
    /// The environment variable with extra hosts, comma-separated.
    public static let variable = "MR_TOKEN_SIDECAR_ALLOWED_HOSTS"

    /// The Mixed Reality STS: `sts.<accountDomain>` with account domains such as
    /// `eastus2.mixedreality.azure.com`, and the regionless `sts.mixedreality.azure.com`
    /// (protocol §1.1 and §1.7; Azure Spatial Anchors and Remote Rendering were offered in the
    /// public cloud only).
    public static let stsDomainSuffixes = ["mixedreality.azure.com"]

    /// The Entra ID authority hosts of the public, US Government and China clouds (the Azure
    /// SDKs' `AzureAuthorityHosts`: protocol §2.1).
    public static let authorityHosts = [
        "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
    ]

    /// The hosts allowed on top of the Azure ones, lowercase.
    public var allowedHosts: Set<String>

    /// - Parameter allowedHosts: Host names or IP addresses allowed on top of the Azure ones.
    public init(allowedHosts: [String] = []) {
        self.allowedHosts = Set(allowedHosts.map { Self.normalized($0) })
    }

    /// The entries of a comma-separated list of host names and IP addresses.
    /// - Throws: ``ConfigValueError`` naming the first entry that is neither.
    package static func parse(_ list: String) throws(ConfigValueError) -> [String] {
        var hosts: [String] = []
        for entry in list.split(separator: ",").map({ $0.trimmed }) where !entry.isEmpty {
            guard HostNameRule.isValid(entry) || IPAddressRule.isValid(entry) else {
                throw ConfigValueError(
                    "\"\(LogText.bounded(entry, limit: 80))\" is neither a host name nor an IP address (give HOST[,HOST...], no scheme or port)"
                )
            }
            hosts.append(entry)
        }
        return hosts
    }

    /// Whether the STS request (it carries the account key or an Entra token) may go to `host`.
    public func allowsSTS(_ host: String) -> Bool {
        let name = Self.normalized(host)
        return allowedHosts.contains(name) || Self.stsDomainSuffixes.contains { name.hasSuffix("." + $0) }
    }

    /// Whether the Entra token request (it carries the client secret or an assertion) may go to `host`.
    public func allowsAuthority(_ host: String) -> Bool {
        let name = Self.normalized(host)
        return allowedHosts.contains(name) || Self.authorityHosts.contains(name)
    }

    /// `host` lowercase, without IPv6 brackets or trailing dots.
    package static func normalized(_ host: String) -> String {
        var name = host.lowercased()
        if name.hasPrefix("[") && name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        while name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
