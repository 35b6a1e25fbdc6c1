import ArgumentParser
import AzureCore
import SidecarConfig
import SidecarInjector

/// The settings of every injected sidecar, shared by `webhook` and `inject` under the same flag
/// names (the chart's Deployment passes them to the webhook). Each is optional: a flag given
/// wins over `inject --values`, which wins over the default.
struct InjectionOptions: ParsableArguments {
    @Option(help: "The sidecar image injected (a pod may override it with mixedreality.azure.com/image).")
    var sidecarImage: String?

    @Option(help: "The injected containers' imagePullPolicy (default: IfNotPresent).")
    var sidecarImagePullPolicy: String?

    @Flag(
        help: """
            Inject an init container running --once plus a regular sidecar container, for clusters \
            older than 1.29 (default: a native sidecar).
            """)
    var legacySidecar = false

    @Option(help: "The sidecar's probe port inside the pod (default: 8787).")
    var sidecarPort: Int?

    @Option(
        help: """
            The sidecar's resources, as JSON (a pod may override them with mixedreality.azure.com/resources; \
            default: \(String(decoding: InjectorSettings.defaultResources.encoded(), as: UTF8.self))).
            """)
    var sidecarResources: String?

    @Option(help: "The sizeLimit of the in-memory token volume (default: 1Mi).")
    var tokenVolumeSizeLimit: String?

    @Option(
        help: ArgumentHelp(
            "The credential types pods may use, comma-separated (managedIdentity and default act as the node's identity on many clusters; default: \(InjectionPolicy.defaultAllowedCredentials.map(\.rawValue).joined(separator: ","))).",
            valueName: "type[,type...]"))
    var allowedCredentials: String?

    @Flag(help: "Honour mixedreality.azure.com/image (default: the annotation is refused).")
    var allowImageOverride = false

    @Option(
        help: ArgumentHelp(
            "With --allow-image-override: the registries allowed, each a host (with its port) and optionally a path under it, comma-separated (default: any).",
            valueName: "host[/path][,...]"))
    var allowedImageRegistries: String?

    @Option(help: "The most CPU mixedreality.azure.com/resources may ask for, such as 200m (default: no bound).")
    var maxSidecarCpu: String?

    @Option(help: "The most memory mixedreality.azure.com/resources may ask for, such as 128Mi (default: no bound).")
    var maxSidecarMemory: String?

    @Option(
        help: ArgumentHelp(
            "Hosts the injected sidecars may send secrets to besides the Azure clouds' (their MR_TOKEN_SIDECAR_ALLOWED_HOSTS).",
            valueName: "host[,host...]"))
    var sidecarAllowedHosts: String?

    @Option(
        help: ArgumentHelp(
            "Entra ID scopes the injected sidecars may ask for besides the Mixed Reality resource's (their MR_TOKEN_SIDECAR_ALLOWED_SCOPES).",
            valueName: "scope[,scope...]"))
    var sidecarAllowedScopes: String?

    @Option(
        help: ArgumentHelp(
            "A ConfigMap of the pod's namespace whose --sidecar-ca-key the injected sidecars trust for every host (their MR_TOKEN_SIDECAR_CA_FILE): a TLS-inspecting egress proxy's CA.",
            valueName: "name"))
    var sidecarCaConfigmap: String?

    @Option(
        help: ArgumentHelp(
            "Instead of --sidecar-ca-configmap: a Secret of the pod's namespace holding that CA bundle.",
            valueName: "name"))
    var sidecarCaSecret: String?

    @Option(help: "The key of the CA bundle in that ConfigMap or Secret (default: ca.crt).")
    var sidecarCaKey: String?

    @Option(help: "The injected sidecars' log level (their MR_TOKEN_SIDECAR_LOG_LEVEL; default: their config's).")
    var sidecarLogLevel: String?

    @Option(
        help: ArgumentHelp(
            "More environment for the injected sidecars, as a JSON list of {\"name\", \"value\"} (such as a cluster-wide HTTPS_PROXY; a variable the pod's containers set wins).",
            valueName: "json"))
    var sidecarEnv: String?

    /// The settings, each from its flag, else from `values` (the flags a values file gives, by
    /// name without `--`), else the default; every value checked, and an error naming the flag
    /// (and the values file) it came from.
    /// - Parameters:
    ///   - values: The flags of `inject --values` (``ChartValues/flags(_:appVersion:file:)``).
    ///   - valuesSource: The values files, for messages.
    func settings(values: [String: String] = [:], valuesSource: String = "") throws -> InjectorSettings {
        /// A setting and where it came from, for messages.
        func pick(_ flag: String?, _ name: String) -> (value: String, origin: String)? {
            if let flag { return (flag, "--\(name)") }
            if let value = values[name] { return (value, "--\(name) (from \(valuesSource))") }
            return nil
        }
        guard let image = pick(sidecarImage, "sidecar-image") else {
            throw ValidationError("--sidecar-image is required (or, for inject, --values with the chart's values)")
        }
        if image.value.isEmpty || image.value.contains(where: \.isWhitespace) {
            throw ValidationError("\(image.origin) must be an image reference")
        }
        let pullPolicy = pick(sidecarImagePullPolicy, "sidecar-image-pull-policy") ?? ("IfNotPresent", "")
        if !["Always", "IfNotPresent", "Never"].contains(pullPolicy.value) {
            throw ValidationError("\(pullPolicy.origin) must be Always, IfNotPresent or Never")
        }
        var port = 8787
        if let given = pick(sidecarPort.map(String.init), "sidecar-port") {
            guard let number = Int(given.value), (1...65535).contains(number) else {
                throw ValidationError("\(given.origin) must be between 1 and 65535")
            }
            port = number
        }
        var resources = InjectorSettings.defaultResources
        if let given = pick(sidecarResources, "sidecar-resources") {
            switch InjectionRequest.parseResources(given.value) {
            case .failure(let denial): throw ValidationError("\(given.origin): \(denial.reason)")
            case .success(let parsed):
                if let problem = InjectionPolicy.problem(with: parsed, maxCPU: nil, maxMemory: nil) {
                    throw ValidationError("\(given.origin): \(problem)")
                }
                resources = parsed
            }
        }
        let sizeLimit = pick(tokenVolumeSizeLimit, "token-volume-size-limit") ?? ("1Mi", "")
        if !InjectionRequest.isQuantity(sizeLimit.value) {
            throw ValidationError("\(sizeLimit.origin) \(sizeLimit.value) is not a quantity such as 1Mi")
        }
        var logLevel: String?
        if let given = pick(sidecarLogLevel, "sidecar-log-level") {
            guard let level = LogConfiguration.Level(rawValue: given.value) else {
                throw ValidationError(
                    "\(given.origin) must be trace, debug, info, notice, warning, error or critical")
            }
            logLevel = level.rawValue
        }
        return InjectorSettings(
            image: image.value, imagePullPolicy: pullPolicy.value,
            nativeSidecar: !(legacySidecar || values["legacy-sidecar"] == "true"), probePort: port,
            resources: resources, tokenVolumeSizeLimit: sizeLimit.value,
            policy: try policy(pick, imageOverrideFromValues: values["allow-image-override"] == "true"),
            logLevel: logLevel, environment: try environment(pick(sidecarEnv, "sidecar-env")))
    }

    /// `--sidecar-env` checked: a list of `{name, value}` with environment variable names, none of
    /// the sidecar's own `MR_TOKEN_SIDECAR_*` (the webhook sets those from its other flags).
    private func environment(_ given: (value: String, origin: String)?) throws -> [JSONValue] {
        guard let given else { return [] }
        guard let list = JSON.decode(JSONValue.self, from: Array(given.value.utf8))?.array else {
            throw ValidationError(
                "\(given.origin) must be a JSON list such as [{\"name\":\"HTTPS_PROXY\",\"value\":\"http://proxy:3128\"}]"
            )
        }
        for entry in list {
            guard let object = entry.object, let name = object["name"]?.string, object["value"]?.string != nil,
                Set(object.keys).isSubset(of: ["name", "value"])
            else {
                throw ValidationError(
                    "\(given.origin): each entry is {\"name\": ..., \"value\": ...} with a string value")
            }
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
                name.first?.isNumber == false
            else {
                throw ValidationError("\(given.origin): \(LogText.bounded(name, limit: 60)) is not a variable name")
            }
            guard !name.hasPrefix("MR_TOKEN_SIDECAR_") else {
                throw ValidationError("\(given.origin): \(name) is set by the webhook's own flags")
            }
        }
        return list
    }

    /// The admin's policy.
    private func policy(
        _ pick: (String?, String) -> (value: String, origin: String)?, imageOverrideFromValues: Bool
    ) throws -> InjectionPolicy {
        var kinds: [CredentialConfiguration.Kind] = InjectionPolicy.defaultAllowedCredentials
        if let given = pick(allowedCredentials, "allowed-credentials") {
            kinds = []
            for name in given.value.split(separator: ",").map({ $0.trimmed }) where !name.isEmpty {
                guard let kind = CredentialConfiguration.Kind(rawValue: name) else {
                    throw ValidationError(
                        "\(given.origin): \(LogText.bounded(name, limit: 60)) is not one of "
                            + CredentialConfiguration.Kind.allCases.map(\.rawValue).joined(separator: ", "))
                }
                kinds.append(kind)
            }
        }
        var bounds: [Double?] = []
        for (flag, name) in [(maxSidecarCpu, "max-sidecar-cpu"), (maxSidecarMemory, "max-sidecar-memory")] {
            guard let given = pick(flag, name) else {
                bounds.append(nil)
                continue
            }
            guard let number = Quantity.value(given.value) else {
                throw ValidationError("\(given.origin) \(given.value) is not a quantity such as 200m or 128Mi")
            }
            bounds.append(number)
        }
        var hosts: [String] = []
        if let given = pick(sidecarAllowedHosts, "sidecar-allowed-hosts") {
            do {
                hosts = try EgressPolicy.parse(given.value)
            } catch {
                throw ValidationError("\(given.origin): \(error.message)")
            }
        }
        let configMap = pick(sidecarCaConfigmap, "sidecar-ca-configmap")
        let secret = pick(sidecarCaSecret, "sidecar-ca-secret")
        var bundle: CABundle?
        switch (configMap, secret) {
        case (.some, .some):
            throw ValidationError("give --sidecar-ca-configmap or --sidecar-ca-secret, not both")
        case (.some(let given), nil), (nil, .some(let given)):
            guard InjectionRequest.isDNSSubdomain(given.value) else {
                throw ValidationError(
                    "\(given.origin): \(LogText.bounded(given.value, limit: 80)) is not an object name")
            }
            let key = pick(sidecarCaKey, "sidecar-ca-key") ?? ("ca.crt", "")
            guard !key.value.isEmpty, key.value.count <= 253,
                key.value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
            else {
                throw ValidationError("\(key.origin): \(LogText.bounded(key.value, limit: 80)) is not a key")
            }
            bundle = CABundle(kind: configMap != nil ? .configMap : .secret, name: given.value, key: key.value)
        case (nil, nil):
            bundle = nil
        }
        let registries = pick(allowedImageRegistries, "allowed-image-registries")?.value ?? ""
        return InjectionPolicy(
            allowedCredentials: kinds, allowImageOverride: allowImageOverride || imageOverrideFromValues,
            allowedImageRegistries: registries.split(separator: ",").map { $0.trimmed }.filter { !$0.isEmpty },
            maxCPU: bounds[0], maxMemory: bounds[1], sidecarAllowedHosts: hosts,
            sidecarAllowedScopes: OperatorPolicy.parseScopes(
                pick(sidecarAllowedScopes, "sidecar-allowed-scopes")?.value ?? ""),
            sidecarCABundle: bundle)
    }
}
