import AzureCore
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
    /// The registries (image prefixes such as `registry.example/team/`) an overriding image must
    /// come from; empty: any, when overrides are allowed.
    package var allowedImageRegistries: [String]
    /// The most CPU (cores) and memory (bytes) `mixedreality.azure.com/resources` may ask for, in
    /// requests and limits alike; `nil`: no bound.
    package var maxCPU: Double?
    package var maxMemory: Double?
    /// Hosts the injected sidecars may send secrets to besides the Azure clouds' (their
    /// `MR_TOKEN_SIDECAR_ALLOWED_HOSTS`).
    package var sidecarAllowedHosts: [String]

    package static let defaultAllowedCredentials: [CredentialConfiguration.Kind] = [
        .accountKey, .workloadIdentity, .clientSecret, .clientCertificate,
    ]

    package init(
        allowedCredentials: [CredentialConfiguration.Kind] = defaultAllowedCredentials,
        allowImageOverride: Bool = false,
        allowedImageRegistries: [String] = [], maxCPU: Double? = nil, maxMemory: Double? = nil,
        sidecarAllowedHosts: [String] = []
    ) {
        self.allowedCredentials = allowedCredentials
        self.allowImageOverride = allowImageOverride
        self.allowedImageRegistries = allowedImageRegistries
        self.maxCPU = maxCPU
        self.maxMemory = maxMemory
        self.sidecarAllowedHosts = sidecarAllowedHosts
    }

    /// Why the pod's request breaks the policy, or `nil`.
    func violation(_ request: InjectionRequest) -> String? {
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
            if !allowedImageRegistries.isEmpty, !allowedImageRegistries.contains(where: { image.hasPrefix($0) }) {
                return
                    "\(Key.image.annotation): \"\(LogText.bounded(image, limit: 80))\" is not from an allowed registry ("
                    + allowedImageRegistries.joined(separator: ", ") + ")"
            }
        }
        if let resources = request.resources {
            for section in ["requests", "limits"] {
                for (resource, bound) in [("cpu", maxCPU), ("memory", maxMemory)] {
                    guard let bound, let text = resources[section]?[resource]?.string,
                        let value = Quantity.value(text), value > bound
                    else { continue }
                    return "\(Key.resources.annotation): \(section).\(resource) \(text) is more than the cluster allows"
                        + " (the chart's policy.maxResources)"
                }
            }
        }
        return nil
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
