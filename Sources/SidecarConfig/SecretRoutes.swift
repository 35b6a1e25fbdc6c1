import AzureCore

/// Where a configuration sends secrets, and through what: the keys a reload may not change
/// (docs/security.md), with their values. It holds no secret: paths, hosts, and a proxy without
/// its credentials.
extension AccountConfiguration {
    /// The account's keys that say where its secrets go, in a fixed order, with their values
    /// (`nil`: not set).
    package var secretRoute: [(key: String, value: String?)] {
        let credential = credential
        let keyFiles = credential.accountKeyFiles
        var files: [String: String] = [:]
        for (key, path) in credential.secretFiles where !key.hasPrefix("key") { files[key] = path }
        return [
            ("endpoint", endpoint), ("accountDomain", accountDomain), ("credential.type", credential.type.rawValue),
            ("credential.authorityHost", credential.authorityHost), ("credential.scope", credential.scope),
            ("credential.keyFile", keyFiles.count == 1 ? keyFiles[0] : nil),
            ("credential.keyFiles", keyFiles.count > 1 ? keyFiles.joined(separator: ",") : nil),
            ("credential.secretFile", files["secretFile"]),
            ("credential.certificateFile", files["certificateFile"]),
            ("credential.tokenFile", files["tokenFile"]),
        ]
    }
}

extension SidecarConfiguration {
    /// The file's trust and proxy (for the hosts the operator allowed), in a fixed order.
    package var transportRoute: [(key: String, value: String?)] {
        let proxyURL = proxy.map { proxy in
            proxy.url.isEmpty
                ? "none" : (try? ProxySettings.resolve(option: proxy.pipelineProxy, environment: [:]))?.https?.display
        }
        return [
            ("tls.caFile", tls.caFile), ("tls.systemRoots", tls.systemRoots ? nil : "false"),
            ("proxy.url", proxyURL ?? nil), ("proxy.noProxy", proxy?.noProxy.joined(separator: ",")),
        ]
    }

    /// Every key of the configuration that says where a secret goes or through what, with its
    /// value: the file's trust and proxy by their key, each account's by `<name>.<key>`. What
    /// `/status` publishes of the configuration in use, and what `doctor` compares the file with.
    package var secretRoutes: [String: String] {
        var routes: [String: String] = [:]
        for (key, value) in transportRoute { routes[key] = value }
        for account in accounts {
            for (key, value) in account.secretRoute { routes["\(account.name).\(key)"] = value }
        }
        return routes
    }

    /// The keys of ``secretRoutes`` whose values differ between `self` and `other` (one missing
    /// counts), sorted.
    package static func routeChanges(from old: [String: String], to new: [String: String]) -> [String] {
        Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }.sorted()
    }
}
