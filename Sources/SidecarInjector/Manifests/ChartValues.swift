package import AzureCore

/// The Helm chart's values, turned into the webhook's flags as the chart's Deployment template
/// turns them (charts/mr-token-sidecar/templates/deployment.yaml): `inject --values` and the
/// webhook installed with the same values then read the same settings through the same flags.
package enum ChartValues {
    /// A values file that cannot be used: the file, the key and what is wrong.
    package struct Problem: Error, Sendable, CustomStringConvertible {
        package var message: String
        package var description: String { message }
    }

    /// The chart's defaults (values.yaml) for the values that become the webhook's injection
    /// flags; the values files given are merged over them as Helm merges `-f` files over the
    /// chart's. A test holds this to the chart's values.yaml.
    package static let defaults: JSONValue = [
        "image": ["repository": "mr-token-sidecar", "tag": "", "digest": "", "pullPolicy": "IfNotPresent"],
        "policy": [
            "allowedCredentials": ["accountKey", "workloadIdentity", "clientSecret", "clientCertificate"],
            "imageOverride": ["enabled": false, "allowedRegistries": []],
            "maxResources": ["cpu": "500m", "memory": "256Mi"],
        ],
        "sidecar": [
            "nativeSidecar": true,
            "image": ["repository": "", "tag": "", "digest": ""],
            "port": 8787,
            "resources": ["requests": ["cpu": "5m", "memory": "32Mi"], "limits": ["cpu": "100m", "memory": "64Mi"]],
            "tokenVolumeSizeLimit": "1Mi",
            "allowedHosts": [],
            "allowedScopes": [],
            "caBundle": ["configMap": "", "secret": "", "key": "ca.crt"],
            "logLevel": "",
            "env": [],
        ],
    ]

    /// The values of YAML files, merged in order over the chart's defaults as Helm merges them:
    /// mappings key by key, anything else replaced, a null removing the key.
    package static func merged(_ files: [(name: String, text: String)]) throws(Problem) -> JSONValue {
        var result = defaults
        for file in files {
            let documents: [ManifestDocument]
            do {
                documents = try ManifestYAML.documents(in: file.text)
            } catch {
                throw Problem(message: "\(file.name): \(error)")
            }
            let roots = documents.compactMap(\.root)
            guard roots.count <= 1 else { throw Problem(message: "\(file.name): more than one YAML document") }
            guard let root = roots.first else { continue }
            let values = ManifestYAML.json(root)
            guard case .object = values else {
                throw Problem(message: "\(file.name): the values are not a mapping")
            }
            result = merge(values, over: result)
        }
        return result
    }

    private static func merge(_ top: JSONValue, over base: JSONValue) -> JSONValue {
        guard case .object(let overrides) = top, case .object(var members) = base else { return top }
        for (key, value) in overrides {
            if value == .null {
                members[key] = nil
            } else if let existing = members[key] {
                members[key] = merge(value, over: existing)
            } else {
                members[key] = value
            }
        }
        return .object(members)
    }

    /// The webhook's flags the values give, by name (without `--`), as the chart's template
    /// writes them: `--legacy-sidecar` and `--allow-image-override` as `"true"` when set, the
    /// flags the template leaves out (an empty list, an empty string) absent.
    /// - Parameters:
    ///   - values: The merged values.
    ///   - appVersion: The chart's appVersion, the image tag when none is given.
    ///   - file: The values files, for messages.
    package static func flags(_ values: JSONValue, appVersion: String, file: String) throws(Problem) -> [String: String]
    {
        func at(_ path: String) -> JSONValue? {
            var node: JSONValue? = values
            for key in path.split(separator: ".") { node = node?[String(key)] }
            return node
        }
        func string(_ path: String) throws(Problem) -> String {
            switch at(path) {
            case nil, .null?: return ""
            case .string(let text)?: return text
            case .number(let number)?:
                return number.rounded() == number ? String(Int64(number)) : String(number)
            case .bool(let flag)?: return flag ? "true" : "false"
            default: throw Problem(message: "\(file): \(path) must be a string")
            }
        }
        func bool(_ path: String) throws(Problem) -> Bool {
            switch at(path) {
            case nil, .null?: return false
            case .bool(let flag)?: return flag
            default: throw Problem(message: "\(file): \(path) must be true or false")
            }
        }
        func list(_ path: String) throws(Problem) -> [String] {
            switch at(path) {
            case nil, .null?: return []
            case .array(let items)?:
                var strings: [String] = []
                for item in items {
                    guard let text = item.string else {
                        throw Problem(message: "\(file): \(path) must be a list of strings")
                    }
                    strings.append(text)
                }
                return strings
            default: throw Problem(message: "\(file): \(path) must be a list")
            }
        }
        func image(_ path: String) throws(Problem) -> String {
            let repository = try string(path + ".repository")
            let digest = try string(path + ".digest")
            if !digest.isEmpty { return "\(repository)@\(digest)" }
            let tag = try string(path + ".tag")
            return "\(repository):\(tag.isEmpty ? appVersion : tag)"
        }
        var flags: [String: String] = [:]
        flags["sidecar-image"] =
            try string("sidecar.image.repository").isEmpty ? try image("image") : try image("sidecar.image")
        flags["sidecar-image-pull-policy"] = try string("image.pullPolicy")
        flags["sidecar-port"] = try string("sidecar.port")
        flags["sidecar-resources"] = String(decoding: (at("sidecar.resources") ?? .null).encoded(), as: UTF8.self)
        flags["token-volume-size-limit"] = try string("sidecar.tokenVolumeSizeLimit")
        if !(try bool("sidecar.nativeSidecar")) { flags["legacy-sidecar"] = "true" }
        flags["allowed-credentials"] = try list("policy.allowedCredentials").joined(separator: ",")
        if try bool("policy.imageOverride.enabled") {
            flags["allow-image-override"] = "true"
            let registries = try list("policy.imageOverride.allowedRegistries")
            if !registries.isEmpty { flags["allowed-image-registries"] = registries.joined(separator: ",") }
        }
        for (key, flag) in [
            ("policy.maxResources.cpu", "max-sidecar-cpu"), ("policy.maxResources.memory", "max-sidecar-memory"),
        ] {
            let value = try string(key)
            if !value.isEmpty { flags[flag] = value }
        }
        for (key, flag) in [
            ("sidecar.allowedHosts", "sidecar-allowed-hosts"), ("sidecar.allowedScopes", "sidecar-allowed-scopes"),
        ] {
            let value = try list(key)
            if !value.isEmpty { flags[flag] = value.joined(separator: ",") }
        }
        let configMap = try string("sidecar.caBundle.configMap")
        let secret = try string("sidecar.caBundle.secret")
        if !configMap.isEmpty { flags["sidecar-ca-configmap"] = configMap }
        if !secret.isEmpty { flags["sidecar-ca-secret"] = secret }
        if !configMap.isEmpty || !secret.isEmpty { flags["sidecar-ca-key"] = try string("sidecar.caBundle.key") }
        let level = try string("sidecar.logLevel")
        if !level.isEmpty { flags["sidecar-log-level"] = level }
        if let env = at("sidecar.env"), env != .null, env != .array([]) {
            flags["sidecar-env"] = String(decoding: env.encoded(), as: UTF8.self)
        }
        return flags
    }
}
