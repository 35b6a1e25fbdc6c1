import AzureCore

/// Whether the sidecar containers a pod already has are the ones the injector renders for it, so
/// that declaring them (or changing them afterwards) is no way around the policy: the image,
/// the arguments, the environment the injector sets (the allowed credentials among it), the
/// mounts, the resources and the security context must all be the injector's. What the API
/// server fills in with defaults (probe timeouts, `terminationMessagePath`) and what Azure
/// Workload Identity's webhook adds (its variables and token mount) are allowed.
enum InjectedPodCheck {
    /// The keys of a container the injector writes, and those the API server adds with defaults.
    static let allowedKeys: Set<String> = [
        "name", "image", "imagePullPolicy", "args", "env", "resources", "securityContext", "terminationMessagePolicy",
        "volumeMounts", "ports", "readinessProbe", "livenessProbe", "startupProbe", "restartPolicy",
        "terminationMessagePath", "resizePolicy",
    ]

    /// What differs, or `nil` when the pod's sidecar is the injector's.
    static func difference(
        injected: [(path: String, container: JSONValue)], spec: [String: JSONValue], expected: Injector.Rendering
    ) -> String? {
        var wanted: [String: JSONValue] = [:]
        for (list, container) in [("initContainers", expected.initContainer), ("containers", expected.container)] {
            if let container, let name = container["name"]?.string { wanted["\(list)/\(name)"] = container }
        }
        var found: [String: JSONValue] = [:]
        for (path, container) in injected {
            let list = path.hasPrefix("/spec/initContainers/") ? "initContainers" : "containers"
            let key = "\(list)/\(container["name"]?.string ?? "")"
            guard found[key] == nil else { return "two containers named \(container["name"]?.string ?? "")" }
            found[key] = container
        }
        for key in found.keys.sorted() where wanted[key] == nil {
            return "\(key.replacing("/", with: " has ")), where the injector puts none"
        }
        for key in wanted.keys.sorted() {
            guard let container = found[key] else { return "\(key.replacing("/", with: " lacks "))" }
            if let problem = difference(container, wanted[key]!, identity: expected.identity) {
                return "container \(container["name"]?.string ?? ""): \(problem)"
            }
        }
        let volumes = Dictionary(
            (spec["volumes"]?.array ?? []).compactMap { volume in volume["name"]?.string.map { ($0, volume) } },
            uniquingKeysWith: { first, _ in first })
        for volume in expected.volumes {
            guard let name = volume["name"]?.string else { continue }
            guard let present = volumes[name] else { return "the pod lacks the volume \(name)" }
            if !sameVolume(present, volume) { return "the volume \(name) is not the injector's" }
        }
        return nil
    }

    /// What differs between a container of the pod and the injector's, or `nil`.
    static func difference(
        _ container: JSONValue, _ expected: JSONValue, identity: (environment: [JSONValue], mounts: [JSONValue])
    ) -> String? {
        let keys = (container.object ?? [:]).keys.sorted()
        if let extra = keys.first(where: { !allowedKeys.contains($0) }) {
            return "it sets \(LogText.bounded(extra, limit: 40)), which the injector does not"
        }
        for key in ["image", "imagePullPolicy", "args", "restartPolicy"] where container[key] != expected[key] {
            return "its \(key) is not the injector's"
        }
        if !sameResources(container["resources"], expected["resources"]) {
            return "its resources are not the injector's"
        }
        if let problem = securityContextProblem(container["securityContext"], expected["securityContext"]) {
            return problem
        }
        if let problem = environmentProblem(container["env"], expected["env"], identity: identity.environment) {
            return problem
        }
        return mountProblem(container["volumeMounts"], expected["volumeMounts"], identity: identity.mounts)
    }

    /// Every variable the injector sets, with its value; besides them only Azure Workload
    /// Identity's, which its webhook may add to the sidecar and which may still be missing (the
    /// injector completes them).
    static func environmentProblem(_ environment: JSONValue?, _ expected: JSONValue?, identity: [JSONValue]) -> String?
    {
        var present: [String: JSONValue] = [:]
        for variable in environment?.array ?? [] {
            guard let name = variable["name"]?.string, present[name] == nil else {
                return "its env names a variable twice"
            }
            present[name] = variable
        }
        let identityNames = Set(Injector.workloadIdentityVariables)
        var wanted: [String: JSONValue] = [:]
        for variable in expected?.array ?? [] { if let name = variable["name"]?.string { wanted[name] = variable } }
        for (name, variable) in wanted.sorted(by: { $0.key < $1.key }) {
            guard let value = present[name] else {
                if identityNames.contains(name) && identity.contains(variable) { continue }
                return "its env lacks \(name)"
            }
            if value != variable { return "its env sets \(name) to another value than the injector's" }
        }
        for name in present.keys.sorted() where wanted[name] == nil && !identityNames.contains(name) {
            return "its env sets \(LogText.bounded(name, limit: 63)), which the injector does not"
        }
        return nil
    }

    /// Every mount is one the injector renders (name, path, read-only), none with `subPath` or
    /// propagation; the injector's are all there, but workload identity's, which it completes.
    static func mountProblem(_ mounts: JSONValue?, _ expected: JSONValue?, identity: [JSONValue]) -> String? {
        let wanted = expected?.array ?? []
        func key(_ mount: JSONValue) -> [String?] {
            [mount["name"]?.string, mount["mountPath"]?.string, mount["readOnly"] == .bool(true) ? "ro" : "rw"]
        }
        let present = mounts?.array ?? []
        for mount in present {
            let extra = Set((mount.object ?? [:]).keys).subtracting(["name", "mountPath", "readOnly"])
            guard extra.isEmpty, wanted.contains(where: { key($0) == key(mount) }) else {
                return
                    "it mounts \(LogText.bounded(mount["name"]?.string ?? "?", limit: 63)) at \(LogText.bounded(mount["mountPath"]?.string ?? "?", limit: 120)), which the injector does not"
            }
        }
        for mount in wanted where !present.contains(where: { key($0) == key(mount) }) && !identity.contains(mount) {
            return "it lacks the mount \(mount["name"]?.string ?? "?")"
        }
        return nil
    }

    /// The injector's security context, each of its keys as rendered; other keys may be there (a
    /// platform may add an SELinux label or an AppArmor profile), but none that makes it privileged.
    static func securityContextProblem(_ context: JSONValue?, _ expected: JSONValue?) -> String? {
        for (key, value) in expected?.object ?? [:] where context?[key] != value {
            return "its securityContext.\(key) is not the injector's"
        }
        if context?["privileged"] == .bool(true) { return "its securityContext makes it privileged" }
        if let procMount = context?["procMount"]?.string, procMount != "Default" {
            return "its securityContext.procMount is not Default"
        }
        return nil
    }

    /// The same quantities in the same sections (the API server may write `0.5` as `500m`).
    static func sameResources(_ left: JSONValue?, _ right: JSONValue?) -> Bool {
        func values(_ resources: JSONValue?) -> [String: Double]? {
            var values: [String: Double] = [:]
            for (section, entries) in resources?.object ?? [:] {
                for (resource, quantity) in entries.object ?? [:] {
                    guard let text = quantity.string, let value = Quantity.value(text) else { return nil }
                    values["\(section).\(resource)"] = value
                }
            }
            return values
        }
        guard let left = values(left), let right = values(right) else { return false }
        return left == right
    }

    /// The same source: an in-memory `emptyDir` of the same size, or the same ConfigMap or Secret
    /// items (the API server adds `defaultMode`).
    static func sameVolume(_ present: JSONValue, _ expected: JSONValue) -> Bool {
        let sources = Set((present.object ?? [:]).keys).subtracting(["name"])
        let wanted = Set((expected.object ?? [:]).keys).subtracting(["name"])
        guard sources == wanted, let source = wanted.first else { return false }
        switch source {
        case "emptyDir":
            let size = { (volume: JSONValue) in volume["emptyDir"]?["sizeLimit"]?.string.flatMap(Quantity.value) }
            let keys = Set((present["emptyDir"]?.object ?? [:]).keys)
            return keys.isSubset(of: ["medium", "sizeLimit"])
                && present["emptyDir"]?["medium"] == expected["emptyDir"]?["medium"] && size(present) == size(expected)
        default:
            var left = present[source]?.object ?? [:]
            left["defaultMode"] = nil
            left["optional"] = left["optional"] == .bool(false) ? nil : left["optional"]
            return JSONValue.object(left) == expected[source]
        }
    }

    /// Why a pod update is refused: the sidecar's containers are the injector's, set when the pod
    /// was created, and an update (`kubectl set image`, an edit) may not change them.
    static func updateProblem(old: JSONValue, new: JSONValue) -> String? {
        let before = Injector.ours(in: old["spec"]?.object ?? [:])
        let after = Injector.ours(in: new["spec"]?.object ?? [:])
        guard before.count == after.count,
            zip(before, after).allSatisfy({ $0.path == $1.path && $0.container == $1.container })
        else {
            let changed = after.first { pair in
                !before.contains { $0.path == pair.path && $0.container == pair.container }
            }
            let name = changed?.container["name"]?.string ?? Injector.sidecarName
            return "container \(name) was put there by the injector and cannot be changed (kubectl set image, an edit):"
                + " delete the pod, and its controller creates one with the injector's sidecar"
        }
        return nil
    }
}
