package import AzureCore
package import SidecarConfig

/// What the cluster admin decides for every pod (chart values and webhook flags) and a pod's
/// annotations or ConfigMap cannot override.
package struct InjectionPolicy: Sendable, Hashable {
    /// The credential types a pod may use, through its annotations or its ConfigMap (the injected
    /// sidecar enforces the list too, through `MR_TOKEN_SIDECAR_ALLOWED_CREDENTIALS`). Managed
    /// identity, and the default chain that falls back to it, act as the node's identity on many
    /// clusters: they are left out unless the admin adds them.
    package var allowedCredentials: [CredentialConfiguration.Kind]
    /// Whether `mixedreality.azure.com/image` is honoured at all (default: no).
    package var allowImageOverride: Bool
    /// The registries an overriding image must come from, each a registry host (with its port)
    /// and optionally a repository path under it, such as `registry.example` or
    /// `registry.example:5000/team`; empty: any, when overrides are allowed.
    package var allowedImageRegistries: [String]
    /// The most CPU (cores) and memory (bytes) `mixedreality.azure.com/resources` may ask for, in
    /// requests and limits alike; `nil`: no bound.
    package var maxCPU: Double?
    package var maxMemory: Double?
    /// Hosts the injected sidecars may send secrets to besides the Azure clouds' (their
    /// `MR_TOKEN_SIDECAR_ALLOWED_HOSTS`).
    package var sidecarAllowedHosts: [String]
    /// Entra ID scopes the injected sidecars may ask for besides the Mixed Reality resource's
    /// (their `MR_TOKEN_SIDECAR_ALLOWED_SCOPES`).
    package var sidecarAllowedScopes: [String]
    /// The CA bundle the injected sidecars trust on top of the system's for every host (their
    /// `MR_TOKEN_SIDECAR_CA_FILE`): a TLS-inspecting egress proxy's CA, from a ConfigMap or a Secret
    /// of the pod's namespace.
    package var sidecarCABundle: CABundle?

    package static let defaultAllowedCredentials: [CredentialConfiguration.Kind] = [
        .accountKey, .workloadIdentity, .clientSecret, .clientCertificate,
    ]

    package init(
        allowedCredentials: [CredentialConfiguration.Kind] = defaultAllowedCredentials,
        allowImageOverride: Bool = false,
        allowedImageRegistries: [String] = [], maxCPU: Double? = nil, maxMemory: Double? = nil,
        sidecarAllowedHosts: [String] = [], sidecarAllowedScopes: [String] = [], sidecarCABundle: CABundle? = nil
    ) {
        self.allowedCredentials = allowedCredentials
        self.allowImageOverride = allowImageOverride
        self.allowedImageRegistries = allowedImageRegistries
        self.maxCPU = maxCPU
        self.maxMemory = maxMemory
        self.sidecarAllowedHosts = sidecarAllowedHosts
        self.sidecarAllowedScopes = sidecarAllowedScopes
        self.sidecarCABundle = sidecarCABundle
    }

    /// Why the pod's request breaks the policy, or `nil`.
    /// - Parameter resources: The sidecar's resources, the chart's merged with the pod's.
    func violation(_ request: InjectionRequest, resources: JSONValue) -> String? {
        typealias Key = InjectionRequest.Key
        if case .account(_, _, let credential, _) = request.source,
            let kind = CredentialConfiguration.Kind(rawValue: credential.rawValue), !allowedCredentials.contains(kind)
        {
            return
                "\(Key.credential.annotation): \(credential.rawValue) is not allowed on this cluster; the cluster admin"
                + " allows \(allowedCredentials.map(\.rawValue).joined(separator: ", ")) (the chart's policy.allowedCredentials)"
        }
        if let image = request.image {
            guard allowImageOverride else {
                return
                    "\(Key.image.annotation) is not honoured on this cluster (the chart's policy.imageOverride.enabled):"
                    + " remove it to get the chart's sidecar image"
            }
            if !allowedImageRegistries.isEmpty,
                !allowedImageRegistries.contains(where: { Self.image(image, isFrom: $0) })
            {
                return
                    "\(Key.image.annotation): \"\(LogText.bounded(image, limit: 80))\" is not from an allowed registry ("
                    + allowedImageRegistries.joined(separator: ", ") + ")"
            }
        }
        return Self.problem(with: resources, maxCPU: maxCPU, maxMemory: maxMemory).map {
            "\(Key.resources.annotation): \($0)"
        }
    }

    /// What is wrong with the sidecar's resources: a missing limit (a sidecar without one may use
    /// the whole node), a request above its limit, or more than the bounds.
    package static func problem(with resources: JSONValue, maxCPU: Double?, maxMemory: Double?) -> String? {
        for (resource, bound) in [("cpu", maxCPU), ("memory", maxMemory)] {
            guard let limitText = resources["limits"]?[resource]?.string, let limit = Quantity.value(limitText) else {
                return "the sidecar needs limits.\(resource) (the chart's sidecar.resources give one; keep it)"
            }
            if let text = resources["requests"]?[resource]?.string, let request = Quantity.value(text), request > limit
            {
                return "requests.\(resource) \(text) is more than limits.\(resource) \(limitText)"
            }
            for section in ["requests", "limits"] {
                guard let bound, let text = resources[section]?[resource]?.string, let value = Quantity.value(text),
                    value > bound
                else { continue }
                return
                    "\(section).\(resource) \(text) is more than the cluster allows (the chart's policy.maxResources)"
            }
        }
        return nil
    }

    /// Whether `image` comes from `registry`: the same registry host (and port), and when the entry
    /// names a path, a repository under it. `registry.example` admits `registry.example/x`, not
    /// `registry.example.evil.io/x`; `registry.example/team` admits `registry.example/team/x`, not
    /// `registry.example/teams/x`.
    static func image(_ image: String, isFrom registry: String) -> Bool {
        let (host, path, _, _) = reference(image)
        var entry = registry.lowercased()
        while entry.hasSuffix("/") { entry.removeLast() }
        let slash = entry.firstIndex(of: "/") ?? entry.endIndex
        let entryHost = String(entry[..<slash])
        let entryPath = entry[slash...].drop { $0 == "/" }
        guard host == entryHost else { return false }
        return entryPath.isEmpty || path == entryPath || path.hasPrefix(entryPath + "/")
    }

    /// An image reference's registry host (Docker Hub's when it names none) and repository path,
    /// lowercase, without tag or digest; and its tag and whether it names a digest.
    static func reference(_ image: String) -> (host: String, path: String, tag: String?, hasDigest: Bool) {
        var name = image.lowercased()
        var hasDigest = false
        if let at = name.firstIndex(of: "@") {
            name = String(name[..<at])
            hasDigest = true
        }
        let slash = name.firstIndex(of: "/")
        var host = "docker.io"
        var path = name
        if let slash {
            let first = String(name[..<slash])
            // The first part is a registry when it looks like a host: a dot, a port, or localhost.
            if first.contains(".") || first.contains(":") || first == "localhost" {
                host = first
                path = String(name[name.index(after: slash)...])
            }
        }
        var tag: String?
        if let colon = path.lastIndex(of: ":") {
            tag = String(path[path.index(after: colon)...])
            path = String(path[..<colon])
        }
        if host == "docker.io" && !path.contains("/") { path = "library/" + path }
        return (host, path, tag, hasDigest)
    }
}

/// Where the injected sidecars' extra CA bundle comes from: a key of a ConfigMap or of a Secret
/// in the pod's namespace (trust-manager distributes both), mounted read-only.
package struct CABundle: Sendable, Hashable {
    package enum Kind: String, Sendable, Hashable { case configMap, secret }
    package var kind: Kind
    package var name: String
    package var key: String

    package init(kind: Kind, name: String, key: String) {
        self.kind = kind
        self.name = name
        self.key = key
    }

    /// The pod volume holding the key as `file`.
    func volume(named volume: String, as file: String) -> JSONValue {
        let items: JSONValue = [["key": .string(key), "path": .string(file)]]
        switch kind {
        case .configMap: return ["name": .string(volume), "configMap": ["name": .string(name), "items": items]]
        case .secret: return ["name": .string(volume), "secret": ["secretName": .string(name), "items": items]]
        }
    }
}

/// Kubernetes quantities as the injector accepts them: digits, an optional fraction, a suffix.
package enum Quantity {
    static let suffixes: [String: Double] = [
        "": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1_048_576, "Gi": 1_073_741_824,
        "Ti": 1_099_511_627_776,
    ]

    /// Whether `text` is such a quantity.
    package static func isValid(_ text: String) -> Bool { value(text) != nil }

    /// The quantity as a number (cores for CPU, bytes for memory), or `nil`.
    package static func value(_ text: String) -> Double? {
        let split = text.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? text.endIndex
        let number = text[..<split]
        guard !number.isEmpty, number.first != ".", number.last != ".", number.filter({ $0 == "." }).count <= 1,
            let value = Double(number), let scale = suffixes[String(text[split...])]
        else { return nil }
        return value * scale
    }
}
