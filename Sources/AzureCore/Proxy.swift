package import AsyncHTTPClient

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// An outgoing proxy, given explicitly (the sidecar's `proxy` config) instead of the environment.
public struct ProxyConfiguration: Sendable, Hashable {
    /// `http://[user:password@]host[:port]` (CONNECT for https requests), or
    /// `socks5://host[:port]`; empty: no proxy, whatever the environment says.
    public var url: String
    /// Hosts reached directly, with the `NO_PROXY` grammar (see ``ProxyBypass``).
    public var noProxy: [String]

    /// - Parameters:
    ///   - url: The proxy URL; empty for none.
    ///   - noProxy: Entries of `NO_PROXY`'s grammar.
    public init(url: String, noProxy: [String] = []) {
        self.url = url
        self.noProxy = noProxy
    }
}

/// The proxies of a pipeline, resolved once: from ``ProxyConfiguration`` when given, otherwise
/// from the environment as the Azure SDKs' core libraries read it: `HTTPS_PROXY` for https
/// requests, `HTTP_PROXY` for http ones (upper case first, then lower case, as Go's
/// `ProxyFromEnvironment`), `NO_PROXY` for the hosts reached directly.
///
/// Loopback (`127.0.0.0/8`, `::1`, `localhost`) and link-local addresses (IMDS at
/// `169.254.169.254`, `fe80::/10`) are always reached directly, whatever `NO_PROXY` says: a proxy
/// cannot reach the pod's own loopback or the node's IMDS, and must not see what is sent there.
package struct ProxySettings: Sendable, Hashable {
    /// A proxy server: where to connect, and the credentials for it (never logged).
    package struct Server: Sendable, Hashable {
        package var configuration: HTTPClient.Configuration.Proxy
        /// `http://host:port` or `socks5://host:port`, without credentials: for logs and errors.
        package var display: String
    }

    package var https: Server?
    package var http: Server?
    package var bypass: ProxyBypass

    /// No proxy at all.
    package static let none = ProxySettings(https: nil, http: nil, bypass: ProxyBypass([]))

    package init(https: Server?, http: Server?, bypass: ProxyBypass) {
        self.https = https
        self.http = http
        self.bypass = bypass
    }

    /// The settings of `option`, or of `environment` when it is `nil`.
    /// - Throws: ``AzureCoreError`` (`invalidArgument`) naming the variable or option whose URL
    ///   is not a usable proxy.
    package static func resolve(
        option: ProxyConfiguration?, environment: [String: String]
    ) throws(AzureCoreError) -> ProxySettings {
        if let option {
            let server = try option.url.isEmpty ? nil : parse(option.url, source: "the proxy option")
            return ProxySettings(https: server, http: server, bypass: ProxyBypass(option.noProxy))
        }
        func variable(_ names: String...) -> (String, String)? {
            for name in names {
                if let value = environment[name]?.trimmed, !value.isEmpty { return (name, value) }
            }
            return nil
        }
        let https = try variable("HTTPS_PROXY", "https_proxy").map { (name, value) throws(AzureCoreError) in
            try parse(value, source: name)
        }
        let http = try variable("HTTP_PROXY", "http_proxy").map { (name, value) throws(AzureCoreError) in
            try parse(value, source: name)
        }
        let bypass = variable("NO_PROXY", "no_proxy").map { ProxyBypass.parse($0.1) } ?? ProxyBypass([])
        return ProxySettings(https: https, http: http, bypass: bypass)
    }

    /// The proxy for a request to `url`, or `nil` to connect directly.
    package func server(for url: URL) -> Server? {
        guard let host = url.host else { return nil }
        let secure = url.scheme?.lowercased() == "https"
        guard let server = secure ? https : http else { return nil }
        let port = url.port ?? (secure ? 443 : 80)
        if ProxyBypass.isLinkLocal(host) || IPAddressRule.isLoopback(host) || bypass.matches(host: host, port: port) {
            return nil
        }
        let name = host.lowercased()
        if name == "localhost" || name == "localhost." || name.hasSuffix(".localhost") { return nil }
        return server
    }

    /// Parses a proxy URL: `http://[user:password@]host[:port]` (port 80 by default), a bare
    /// `host:port` (http), or `socks5://host[:port]` (port 1080).
    static func parse(_ text: String, source: String) throws(AzureCoreError) -> Server {
        let withScheme = text.contains("://") ? text : "http://" + text
        func invalid(_ why: String) -> AzureCoreError {
            // The URL may carry a password: name the source, never the value.
            AzureCoreError(.invalidArgument, "\(source) is not a usable proxy URL: \(why)", isRetriable: false)
        }
        guard let components = URLComponents(string: withScheme), let host = components.host, !host.isEmpty else {
            throw invalid("give http://[user:password@]host:port")
        }
        let scheme = components.scheme?.lowercased() ?? "http"
        guard HostNameRule.isValid(host, minimumLabels: 1) || IPAddressRule.isValid(host) else {
            throw invalid("the host is neither a host name nor an IP address")
        }
        guard components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil
        else { throw invalid("a proxy URL has no path, query or fragment") }
        let bareHost = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        switch scheme {
        case "http":
            let port = components.port ?? 80
            var authorization: HTTPClient.Authorization?
            if let user = components.user {
                // URLComponents gives them percent-decoded (`%40` is `@`).
                authorization = .basic(username: user, password: components.password ?? "")
            }
            return Server(
                configuration: .server(host: bareHost, port: port, authorization: authorization),
                display: "http://\(host):\(port)")
        case "socks5", "socks5h":
            guard components.user == nil else { throw invalid("SOCKS proxies with credentials are not supported") }
            let port = components.port ?? 1080
            return Server(configuration: .socksServer(host: bareHost, port: port), display: "socks5://\(host):\(port)")
        default:
            throw invalid("the scheme \(scheme) is not supported: use http:// (CONNECT for https) or socks5://")
        }
    }
}

/// The hosts reached without the proxy, in the grammar of `NO_PROXY` as Go and the Azure SDKs
/// read it: comma-separated entries, each `*` (every host), an IP address, a CIDR block
/// (`10.0.0.0/8`), a domain name (that name and its subdomains: `example.com` matches
/// `example.com` and `a.example.com`) or a domain with a leading dot (subdomains only), each
/// name or address optionally with `:port`.
package struct ProxyBypass: Sendable, Hashable {
    package let entries: [String]

    package init(_ entries: [String]) {
        self.entries = entries.map { $0.trimmed.lowercased() }.filter { !$0.isEmpty }
    }

    package static func parse(_ list: String) -> ProxyBypass {
        ProxyBypass(list.split(separator: ",").map(String.init))
    }

    /// Whether a request to `host` on `port` goes directly.
    package func matches(host rawHost: String, port: Int) -> Bool {
        var host = rawHost.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        while host.hasSuffix(".") { host.removeLast() }
        let address = IPAddressRule.bytes(host)
        for entry in entries {
            if entry == "*" { return true }
            if entry.contains("/") {
                if let address, Self.contains(cidr: entry, address) { return true }
                continue
            }
            let (name, entryPort) = Self.splitPort(entry)
            if let entryPort, entryPort != port { continue }
            if let address {
                if let other = IPAddressRule.bytes(name), other == address { return true }
                continue
            }
            if name.hasPrefix(".") {
                if host.hasSuffix(name) { return true }
            } else if host == name || host.hasSuffix("." + name) {
                return true
            }
        }
        return false
    }

    /// `host:port` split; IPv6 literals keep their colons (`[::1]:80` or a bare `::1`).
    static func splitPort(_ entry: String) -> (String, Int?) {
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { return (entry, nil) }
            let host = String(entry[entry.index(after: entry.startIndex)..<close])
            let rest = entry[entry.index(after: close)...]
            return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        let colons = entry.filter { $0 == ":" }.count
        guard colons == 1, let colon = entry.firstIndex(of: ":") else { return (entry, nil) }
        return (String(entry[..<colon]), Int(entry[entry.index(after: colon)...]))
    }

    /// Whether `address` is in the block `cidr` (`a.b.c.d/n` or `x::/n`).
    package static func contains(cidr: String, _ address: [UInt8]) -> Bool {
        let parts = cidr.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let network = IPAddressRule.bytes(String(parts[0])), let bits = Int(parts[1]),
            network.count == address.count, bits >= 0, bits <= network.count * 8
        else { return false }
        var remaining = bits
        for index in network.indices where remaining > 0 {
            let take = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if network[index] & mask != address[index] & mask { return false }
            remaining -= take
        }
        return true
    }

    /// Link-local addresses: `169.254.0.0/16` (IMDS) and `fe80::/10`.
    static func isLinkLocal(_ host: String) -> Bool {
        guard let address = IPAddressRule.bytes(host) else { return false }
        return address.count == 4
            ? contains(cidr: "169.254.0.0/16", address) : contains(cidr: "fe80::/10", address)
    }
}
