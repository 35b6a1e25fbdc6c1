package import AzureCore
import SidecarConfig

/// What the webhook answers for one pod.
package enum InjectionDecision: Sendable, Hashable {
    /// Admit the pod as it is (already injected); `warnings` go back to the client.
    case unchanged(reason: String, warnings: [String] = [])
    /// Admit the pod with these changes; `warnings` go back to the client.
    case patch([PatchOperation], reason: String, warnings: [String])
    /// Refuse the pod: its annotations are wrong.
    case denied(InjectionDenial)
}

/// Turns a pod that asks for tokens into one that has the sidecar: a pure function of the pod
/// and the settings, so that fixtures pin it down.
package struct Injector: Sendable {
    package static let sidecarName = "mr-token-sidecar"
    package static let initName = "mr-token-sidecar-init"
    package static let tokenVolume = "mr-token-sidecar-tokens"
    package static let configVolume = "mr-token-sidecar-config"
    package static let tokenFolder = "/var/run/mixedreality"
    package static let configFolder = "/etc/mr-token-sidecar"
    package static let configVariable = "MR_TOKEN_SIDECAR_CONFIG"
    /// The operator's CA bundle (``InjectionPolicy/sidecarCABundle``), mounted read-only.
    package static let caVolume = "mr-token-sidecar-ca"
    package static let caFolder = "/etc/mr-token-sidecar-ca"
    package static let caFileName = "ca.pem"
    /// The label a pod must carry for Azure Workload Identity to mutate it.
    package static let workloadIdentityLabel = "azure.workload.identity/use"
    /// What Azure Workload Identity's webhook adds to the containers it mutates.
    package static let workloadIdentityVariables = [
        "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
    ]

    package let settings: InjectorSettings

    package init(settings: InjectorSettings) { self.settings = settings }

    /// Decides for one pod: plan what it needs (or why not), then render the patch.
    package func decide(pod: JSONValue) -> InjectionDecision {
        guard let spec = pod["spec"]?.object, let containers = spec["containers"]?.array, !containers.isEmpty else {
            return .denied(InjectionDenial(reason: "the object is not a pod with containers"))
        }
        let tokenVolume = Self.tokenVolumeCheck(in: spec)
        if let refusal = tokenVolume.refusal { return .denied(InjectionDenial(reason: refusal)) }
        let injected = Self.ours(in: spec)
        if !injected.isEmpty {
            return review(injected: injected, pod: pod, spec: spec, warnings: tokenVolume.warnings)
        }
        switch plan(pod: pod, spec: spec, containers: containers) {
        case .success(let plan): return render(plan)
        case .failure(let denial): return .denied(denial)
        }
    }

    /// Decides for a pod update: the sidecar's containers, the injector's since the pod's creation,
    /// must stay as they are (the rest of the update is the API server's business).
    package func decideUpdate(old: JSONValue, new: JSONValue) -> InjectionDecision {
        if let problem = InjectedPodCheck.updateProblem(old: old, new: new) {
            return .denied(InjectionDenial(reason: problem))
        }
        return .unchanged(reason: "the update leaves the sidecar as it is")
    }

    /// A pod that already has containers of the sidecar's names: one the injector changed before
    /// (reinvocation after another webhook, a retried request) or one whose creator declared them.
    /// Either way the policy applies: the containers must be what the injector renders for the pod
    /// without them, and then only what workload identity added since is completed.
    private func review(
        injected: [(path: String, container: JSONValue)], pod: JSONValue, spec: [String: JSONValue],
        warnings: [String]
    ) -> InjectionDecision {
        let bare = Self.withoutInjection(pod)
        guard let bareSpec = bare["spec"]?.object, let containers = bareSpec["containers"]?.array, !containers.isEmpty
        else {
            return .denied(InjectionDenial(reason: "the pod has no container but mr-token-sidecar's"))
        }
        let expected: Rendering
        switch plan(pod: bare, spec: bareSpec, containers: containers) {
        case .success(let plan): expected = rendering(plan)
        case .failure(let denial): return .denied(denial)
        }
        if let difference = InjectedPodCheck.difference(injected: injected, spec: spec, expected: expected) {
            return .denied(
                InjectionDenial(
                    reason:
                        "the pod declares mr-token-sidecar's containers, and they are not what the injector renders for it"
                        + " (\(difference)): remove the mr-token-sidecar containers and volumes, and the injector adds them"
                ))
        }
        let identity = workloadIdentity(in: spec)
        let operations = injected.flatMap { path, container in
            completeWorkloadIdentity(container, at: path, source: (identity.environment, identity.mounts))
        }
        return operations.isEmpty
            ? .unchanged(reason: "already injected", warnings: warnings)
            : .patch(operations, reason: "workload identity added to the injected sidecar", warnings: warnings)
    }

    /// What one pod needs, read from its annotations and spec and checked against what the
    /// injector adds (the token folder, its volume names).
    struct Plan {
        var request: InjectionRequest
        /// The app containers that mount the tokens: index in `containers`, and whether it has
        /// `volumeMounts` already.
        var targets: [(index: Int, hasMounts: Bool)]
        /// What Azure Workload Identity gave another container of the pod.
        var identity: (environment: [JSONValue], mounts: [JSONValue])
        /// The proxy variables the pod's containers set (`HTTPS_PROXY`, `NO_PROXY`...).
        var proxyEnvironment: [JSONValue]
        var hasVolumes: Bool
        var hasInitContainers: Bool
        var restartPolicy: String
        /// The pod has an `fsGroup`: the token file can be group-readable only.
        var groupReadable: Bool
        /// The sidecar's probe port: the chart's, or the next one no container of the pod declares.
        var probePort: Int
        var hasMetadata: Bool
        var hasAnnotations: Bool
        /// The sidecar's resources: the chart's, with what the pod's annotation sets in their place.
        var resources: JSONValue
    }

    func plan(pod: JSONValue, spec: [String: JSONValue], containers: [JSONValue]) -> Result<Plan, InjectionDenial> {
        let names = containers.compactMap { $0["name"]?.string }
        // This project's annotations only: a pod may carry tens of thousands of others, and a copy
        // of them all would double what a large review holds in memory.
        let annotations = (pod["metadata"]?["annotations"]?.object ?? [:]).reduce(into: [String: String]()) {
            kept, member in
            if member.key.hasPrefix(InjectionRequest.prefix), let text = member.value.string { kept[member.key] = text }
        }
        let request: InjectionRequest
        switch InjectionRequest.parse(annotations, appContainers: names) {
        case .success(let value): request = value
        case .failure(let denial): return .failure(denial)
        }
        if spec["hostNetwork"] == .bool(true) {
            return .failure(
                InjectionDenial(
                    reason:
                        "the pod uses hostNetwork: an injected sidecar would serve its probes and metrics on the node's network and its port would clash between pods; run the pod without hostNetwork"
                ))
        }
        let resources = Self.merged(settings.resources, request.resources)
        if let violation = settings.policy.violation(request, resources: resources) {
            return .failure(InjectionDenial(reason: violation))
        }
        if case .account(_, _, .workloadIdentity, _) = request.source,
            pod["metadata"]?["labels"]?[Self.workloadIdentityLabel]?.string != "true"
        {
            return .failure(
                InjectionDenial(
                    reason:
                        "the pod asks for workload identity (the default \(InjectionRequest.Key.credential.annotation)) but lacks the label \(Self.workloadIdentityLabel): \"true\", so Azure Workload Identity will not give it a token: add the label (and annotate its service account), or choose another credential"
                ))
        }
        let identity = workloadIdentity(in: spec)
        if let problem = identity.problem { return .failure(InjectionDenial(reason: problem)) }
        let wanted = request.containers ?? names
        var targets: [(index: Int, hasMounts: Bool)] = []
        for (index, container) in containers.enumerated() {
            guard let name = container["name"]?.string, wanted.contains(name) else { continue }
            let mounts = container["volumeMounts"]?.array ?? []
            if mounts.contains(where: { $0["mountPath"]?.string == Self.tokenFolder }) {
                return .failure(
                    InjectionDenial(
                        reason:
                            "container \(LogText.bounded(name, limit: 63)) already mounts something at \(Self.tokenFolder), where the tokens go: move it, or leave it out of \(InjectionRequest.Key.containers.annotation)"
                    ))
            }
            targets.append((index, container["volumeMounts"] != nil))
        }
        let volumes = spec["volumes"]?.array ?? []
        for taken in [Self.tokenVolume, Self.configVolume, Self.caVolume]
        where volumes.contains(where: { $0["name"]?.string == taken }) {
            return .failure(
                InjectionDenial(
                    reason: "the pod already has a volume named \(taken), which the injector adds: rename it"))
        }
        return .success(
            Plan(
                request: request, targets: targets, identity: (identity.environment, identity.mounts),
                proxyEnvironment: Self.proxyEnvironment(in: spec),
                hasVolumes: spec["volumes"] != nil, hasInitContainers: spec["initContainers"] != nil,
                restartPolicy: spec["restartPolicy"]?.string ?? "Always",
                groupReadable: spec["securityContext"]?["fsGroup"] != nil,
                probePort: freePort(in: spec), hasMetadata: pod["metadata"] != nil,
                hasAnnotations: pod["metadata"]?["annotations"] != nil, resources: resources))
    }

    /// What the injector adds to a pod: its volumes and its containers.
    struct Rendering {
        var volumes: [JSONValue]
        /// Prepended to `initContainers`: the native sidecar, or the init container.
        var initContainer: JSONValue
        /// Appended to `containers`: the classic sidecar, when there is one.
        var container: JSONValue?
        /// The mount each app container of the plan gets.
        var appMount: JSONValue
        /// What workload identity gave the app: the sidecar's copy may be completed later.
        var identity: (environment: [JSONValue], mounts: [JSONValue])
        var reason: String
        var warnings: [String]
    }

    /// The volumes and containers of a plan: the token volume, the config (a ConfigMap or an
    /// environment variable), the sidecar (native, or init container plus sidecar).
    func rendering(_ plan: Plan) -> Rendering {
        let source = configSource(plan)
        let volumes = source.volumes + caBundle(plan).volumes
        let mounts = source.mounts + caBundle(plan).mounts + plan.identity.mounts
        let base = container(plan, environment: environment(plan, config: source.environment), mounts: mounts)
        var longRunning = base
        longRunning["name"] = .string(Self.sidecarName)
        longRunning["args"] = .array(source.arguments)
        // Named, so that a PodMonitor (the chart's) finds /metrics on every injected pod.
        longRunning["ports"] = [
            [
                "name": .string(Self.metricsPortName), "containerPort": .number(Double(plan.probePort)),
                "protocol": "TCP",
            ]
        ]
        longRunning["readinessProbe"] = Self.merge(probe("/readyz", plan), ["periodSeconds": 10])
        longRunning["livenessProbe"] = Self.merge(
            probe("/healthz", plan), ["periodSeconds": 20, "failureThreshold": 3])
        let appMount: JSONValue = [
            "name": .string(Self.tokenVolume), "mountPath": .string(Self.tokenFolder), "readOnly": true,
        ]
        if settings.nativeSidecar {
            longRunning["restartPolicy"] = "Always"
            longRunning["startupProbe"] = Self.merge(
                probe("/readyz", plan), ["periodSeconds": 1, "failureThreshold": 120])
            return Rendering(
                volumes: volumes, initContainer: .object(longRunning), container: nil, appMount: appMount,
                identity: plan.identity, reason: "native sidecar injected", warnings: [])
        }
        var once = base
        once["name"] = .string(Self.initName)
        once["args"] = .array(source.arguments + ["--once"])
        if plan.restartPolicy == "Always" {
            return Rendering(
                volumes: volumes, initContainer: .object(once), container: .object(longRunning), appMount: appMount,
                identity: plan.identity, reason: "init container and sidecar injected", warnings: [])
        }
        return Rendering(
            volumes: volumes, initContainer: .object(once), container: nil, appMount: appMount,
            identity: plan.identity, reason: "init container injected",
            warnings: [
                "mr-token-sidecar: this pod does not restart (restartPolicy \(plan.restartPolicy)), so it gets the first token only, from an init container: a sidecar would keep it from completing on Kubernetes older than 1.29"
            ])
    }

    /// Where the sidecar's config comes from: a ConfigMap mounted read-only, or the YAML of the
    /// pod's annotations in an environment variable; the token volume in both cases.
    private func configSource(
        _ plan: Plan
    ) -> (arguments: [JSONValue], volumes: [JSONValue], mounts: [JSONValue], environment: [JSONValue]) {
        var arguments: [JSONValue] = ["run"]
        var volumes: [JSONValue] = [
            [
                "name": .string(Self.tokenVolume),
                "emptyDir": ["medium": "Memory", "sizeLimit": .string(settings.tokenVolumeSizeLimit)],
            ]
        ]
        var mounts: [JSONValue] = [["name": .string(Self.tokenVolume), "mountPath": .string(Self.tokenFolder)]]
        var environment: [JSONValue] = []
        switch plan.request.source {
        case .configMap(let name):
            arguments += ["--config", .string(Self.configFolder + "/config.yaml")]
            volumes.append(["name": .string(Self.configVolume), "configMap": ["name": .string(name)]])
            mounts.append([
                "name": .string(Self.configVolume), "mountPath": .string(Self.configFolder), "readOnly": true,
            ])
        case .account(let id, let domain, let credential, let format):
            let yaml = Self.configYAML(
                accountId: id, accountDomain: domain, credential: credential, format: format,
                mode: plan.groupReadable ? "0440" : "0444")
            arguments += ["--config-env", .string(Self.configVariable)]
            environment.append(["name": .string(Self.configVariable), "value": .string(yaml)])
        }
        return (arguments, volumes, mounts, environment)
    }

    /// The operator's CA bundle (the chart's `sidecar.caBundle`), mounted read-only, if any.
    private func caBundle(_ plan: Plan) -> (volumes: [JSONValue], mounts: [JSONValue]) {
        guard let bundle = settings.policy.sidecarCABundle else { return ([], []) }
        return (
            [bundle.volume(named: Self.caVolume, as: Self.caFileName)],
            [["name": .string(Self.caVolume), "mountPath": .string(Self.caFolder), "readOnly": true]]
        )
    }

    /// The sidecar's environment: the probe address and the operator's policy, the config, the CA
    /// file, the workload identity's variables, the log level, then the proxy the pod's containers
    /// use and the chart's extra variables, each name once.
    private func environment(_ plan: Plan, config: [JSONValue]) -> [JSONValue] {
        let policy = settings.policy
        var environment: [JSONValue] = [
            ["name": .string(ConfigLoader.serverAddressVariable), "value": .string("0.0.0.0:\(plan.probePort)")],
            [
                "name": .string(ConfigLoader.allowedCredentialsVariable),
                "value": .string(policy.allowedCredentials.map(\.rawValue).joined(separator: ",")),
            ],
        ]
        for (variable, list) in [
            (EgressPolicy.variable, policy.sidecarAllowedHosts),
            (OperatorPolicy.allowedScopesVariable, policy.sidecarAllowedScopes),
        ] where !list.isEmpty {
            environment.append(["name": .string(variable), "value": .string(list.joined(separator: ","))])
        }
        environment += config
        if policy.sidecarCABundle != nil {
            environment.append([
                "name": .string(OperatorPolicy.caFileVariable), "value": .string(Self.caFolder + "/" + Self.caFileName),
            ])
        }
        environment += plan.identity.environment
        if let level = settings.logLevel {
            environment.append(["name": .string(ConfigLoader.logLevelVariable), "value": .string(level)])
        }
        var named = Set(environment.compactMap { $0["name"]?.string })
        for variable in plan.proxyEnvironment + settings.environment {
            guard let name = variable["name"]?.string, !named.contains(name) else { continue }
            named.insert(name)
            environment.append(variable)
        }
        return environment
    }

    /// What the init container and the sidecar share: the image, the environment, resources,
    /// the hardened security context, the mounts.
    private func container(_ plan: Plan, environment: [JSONValue], mounts: [JSONValue]) -> [String: JSONValue] {
        [
            "image": .string(plan.request.image ?? settings.image),
            "imagePullPolicy": .string(settings.imagePullPolicy),
            "env": .array(environment),
            "resources": plan.resources,
            "securityContext": Self.securityContext,
            // A failed start writes its summary there: kubectl describe pod shows it, or the log's tail.
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": .array(mounts),
        ]
    }

    /// An HTTP probe of the sidecar's probe port.
    private func probe(_ path: String, _ plan: Plan) -> JSONValue {
        ["httpGet": ["path": .string(path), "port": .number(Double(plan.probePort))]]
    }

    /// The JSON patch of a plan: the volumes, the sidecar, the app containers' read-only mounts,
    /// the status annotation.
    func render(_ plan: Plan) -> InjectionDecision {
        let rendering = rendering(plan)
        var operations = Self.append(rendering.volumes, to: "/spec/volumes", exists: plan.hasVolumes)
        operations += Self.prepend(rendering.initContainer, to: "/spec/initContainers", exists: plan.hasInitContainers)
        if let container = rendering.container { operations.append(.add("/spec/containers/-", container)) }
        for target in plan.targets {
            operations += Self.append(
                [rendering.appMount], to: "/spec/containers/\(target.index)/volumeMounts", exists: target.hasMounts)
        }
        let annotations: [(String, String)] = [
            (InjectionRequest.statusAnnotation, "injected"),
            (InjectionRequest.versionAnnotation, settings.sidecarVersion),
        ]
        if plan.hasAnnotations {
            for (name, value) in annotations {
                operations.append(.add("/metadata/annotations/" + PatchOperation.escape(name), .string(value)))
            }
        } else if plan.hasMetadata {
            operations.append(
                .add(
                    "/metadata/annotations",
                    .object(Dictionary(uniqueKeysWithValues: annotations.map { ($0.0, JSONValue.string($0.1)) }))))
        }
        return .patch(operations, reason: rendering.reason, warnings: rendering.warnings + imageWarnings(plan))
    }

    /// The chart's resources with the pod's in their place, section by section and resource by
    /// resource: an annotation that sets `requests.cpu` keeps the chart's limits.
    static func merged(_ defaults: JSONValue, _ requested: JSONValue?) -> JSONValue {
        guard let requested = requested?.object else { return defaults }
        var result = defaults.object ?? [:]
        for (section, entries) in requested {
            var merged = result[section]?.object ?? [:]
            for (resource, quantity) in entries.object ?? [:] { merged[resource] = quantity }
            result[section] = .object(merged)
        }
        return .object(result)
    }

    /// The single-account config the annotations describe.
    static func configYAML(
        accountId: String, accountDomain: String, credential: InjectionRequest.Credential,
        format: OutputConfiguration.Format, mode: String
    ) -> String {
        let file = format == .token ? "token" : "token.\(format.rawValue)"
        return """
            accounts:
              - name: default
                accountId: "\(accountId)"
                accountDomain: "\(accountDomain)"
                credential:
                  type: \(credential.rawValue)
                output:
                  path: \(tokenFolder)/\(file)
                  format: \(format.rawValue)
                  mode: "\(mode)"

            """
    }

    static let securityContext: JSONValue = [
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "capabilities": ["drop": ["ALL"]],
        "seccompProfile": ["type": "RuntimeDefault"],
    ]

    /// Our containers already in the pod, with their JSON pointer.
    static func ours(in spec: [String: JSONValue]) -> [(path: String, container: JSONValue)] {
        ["initContainers", "containers"].flatMap { list in
            (spec[list]?.array ?? []).enumerated().compactMap { index, container in
                isOurs(container) ? ("/spec/\(list)/\(index)", container) : nil
            }
        }
    }

    static func isOurs(_ container: JSONValue) -> Bool {
        let name = container["name"]?.string
        return name == sidecarName || name == initName
    }

    /// The pod without what the injector adds: its containers, its volumes and the app
    /// containers' mounts of the token volume.
    static func withoutInjection(_ pod: JSONValue) -> JSONValue {
        guard var object = pod.object, var spec = object["spec"]?.object else { return pod }
        let added: Set<String> = [tokenVolume, configVolume, caVolume]
        for list in ["initContainers", "containers"] {
            guard let containers = spec[list]?.array else { continue }
            spec[list] = .array(
                containers.filter { !isOurs($0) }.map { container in
                    guard var members = container.object, let mounts = members["volumeMounts"]?.array else {
                        return container
                    }
                    members["volumeMounts"] = .array(mounts.filter { !added.contains($0["name"]?.string ?? "") })
                    return .object(members)
                })
        }
        if let volumes = spec["volumes"]?.array {
            spec["volumes"] = .array(volumes.filter { !added.contains($0["name"]?.string ?? "") })
        }
        object["spec"] = .object(spec)
        return .object(object)
    }

    /// Whether a container is the sidecar: one of the injector's names, or the sidecar's image
    /// (a manifest that declares it by hand, such as manifests/examples).
    static func isSidecar(_ container: JSONValue) -> Bool {
        if isOurs(container) { return true }
        guard let image = container["image"]?.string else { return false }
        return InjectionPolicy.reference(image).path.split(separator: "/").last.map(String.init) == sidecarName
    }

    /// The volumes the sidecar writes its tokens to, with the folder it mounts each at: those its
    /// containers mount read-write, but for the config and CA volumes.
    static func tokenVolumes(in spec: [String: JSONValue]) -> [String: String] {
        let all = (spec["initContainers"]?.array ?? []) + (spec["containers"]?.array ?? [])
        var volumes: [String: String] = [:]
        for container in all where isSidecar(container) {
            for mount in container["volumeMounts"]?.array ?? [] where mount["readOnly"] != .bool(true) {
                if let name = mount["name"]?.string, ![configVolume, caVolume].contains(name) {
                    volumes[name] = volumes[name] ?? mount["mountPath"]?.string ?? tokenFolder
                }
            }
        }
        return volumes
    }

    /// What the pod's other containers do with the volume a sidecar it declares writes to, in one
    /// pass over their mounts:
    /// - `refusal`: a container mounts it with `subPath` or `subPathExpr`, and so gets a copy of
    ///   the file as it was when the container started and never sees a new token
    ///   (kubernetes/kubernetes#50345): its app would fail a day later with nothing in any log.
    /// - `warnings`: no container mounts it at all (the tokens reach no one).
    ///
    /// Nothing for a pod that declares no sidecar.
    package static func tokenVolumeCheck(in spec: [String: JSONValue]) -> (refusal: String?, warnings: [String]) {
        let volumes = tokenVolumes(in: spec)
        guard !volumes.isEmpty else { return (nil, []) }
        let all = (spec["initContainers"]?.array ?? []) + (spec["containers"]?.array ?? [])
        var mounted = false
        for container in all where !isSidecar(container) {
            for mount in container["volumeMounts"]?.array ?? [] {
                guard let volume = mount["name"]?.string, let folder = volumes[volume] else { continue }
                mounted = true
                let key = mount["subPath"] != nil ? "subPath" : mount["subPathExpr"] != nil ? "subPathExpr" : nil
                guard let key else { continue }
                let name = LogText.bounded(container["name"]?.string ?? "?", limit: 63)
                return (
                    "container \(name) mounts the token volume \(LogText.bounded(volume, limit: 63)) with \(key): it would keep the token it found at start and never see a new one (kubernetes/kubernetes#50345); mount the folder instead (such as mountPath: \(LogText.bounded(folder, limit: 120)), readOnly: true, without \(key)) and read the file in it",
                    []
                )
            }
        }
        return mounted
            ? (nil, [])
            : (
                nil,
                [
                    "mr-token-sidecar: no container of this pod mounts the token volume (\(volumes.keys.sorted().joined(separator: ", "))), so no app can read the tokens: mount it read-only in the app's container"
                ]
            )
    }

    /// A warning when the pod's image override is not pinned (no digest, and `latest` or no tag):
    /// the sidecar could change under the pod at its next pull.
    func imageWarnings(_ plan: Plan) -> [String] {
        guard let image = plan.request.image else { return [] }
        let reference = InjectionPolicy.reference(image)
        guard !reference.hasDigest, reference.tag == nil || reference.tag == "latest" else { return [] }
        return [
            "mr-token-sidecar: the image \(LogText.bounded(image, limit: 200)) (\(InjectionRequest.Key.image.annotation)) has no version tag or digest, so the sidecar may change at its next pull: pin a tag or a digest"
        ]
    }

    /// The name of the injected sidecar's probe and metrics port.
    package static let metricsPortName = "mr-metrics"

    /// The proxy variables the sidecar needs to reach Azure as the app does.
    package static let proxyVariables = [
        "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
    ]

    /// The proxy variables the pod's app containers set, each name from the first container that
    /// sets it, as they are (a `valueFrom` works in the sidecar too: it is the same pod).
    static func proxyEnvironment(in spec: [String: JSONValue]) -> [JSONValue] {
        var found: [String: JSONValue] = [:]
        for container in spec["containers"]?.array ?? [] {
            for variable in container["env"]?.array ?? [] {
                guard let name = variable["name"]?.string, proxyVariables.contains(name), found[name] == nil else {
                    continue
                }
                found[name] = variable
            }
        }
        return proxyVariables.compactMap { found[$0] }
    }

    /// What Azure Workload Identity gave another container of the pod, so that the sidecar gets it
    /// whichever webhook ran first: its variables, and only the mount that holds the token file
    /// (the one with the longest path under which the file lies), read-only and without
    /// `subPath` or propagation, whatever the app's mount says. `problem` when the token's mount
    /// cannot be copied that way.
    private func workloadIdentity(
        in spec: [String: JSONValue]
    ) -> (environment: [JSONValue], mounts: [JSONValue], problem: String?) {
        let all = (spec["initContainers"]?.array ?? []) + (spec["containers"]?.array ?? [])
        for container in all {
            let name = container["name"]?.string
            guard name != Self.sidecarName, name != Self.initName else { continue }
            let environment = container["env"]?.array ?? []
            guard
                let tokenFile = environment.first(where: { $0["name"]?.string == "AZURE_FEDERATED_TOKEN_FILE" })?[
                    "value"]?
                    .string
            else { continue }
            let variables = environment.filter { Self.workloadIdentityVariables.contains($0["name"]?.string ?? "") }
            let holding = (container["volumeMounts"]?.array ?? []).filter { mount in
                guard let path = mount["mountPath"]?.string else { return false }
                let folder = path.hasSuffix("/") ? path : path + "/"
                return tokenFile.hasPrefix(folder)
            }.max { ($0["mountPath"]?.string?.count ?? 0) < ($1["mountPath"]?.string?.count ?? 0) }
            guard let holding, let volume = holding["name"], let path = holding["mountPath"] else {
                return (variables, [], nil)
            }
            if holding["subPath"] != nil || holding["subPathExpr"] != nil {
                return (
                    variables, [],
                    "the workload identity token \(LogText.bounded(tokenFile)) of container \(LogText.bounded(name ?? "?")) is mounted with subPath: mount its projected volume as a folder so that the sidecar can share it read-only"
                )
            }
            return (variables, [["name": volume, "mountPath": path, "readOnly": true]], nil)
        }
        return ([], [], nil)
    }

    /// The chart's probe port, or the next one that no container of the pod declares (a
    /// `containerPort`), so that the sidecar's server never clashes with the app's.
    private func freePort(in spec: [String: JSONValue]) -> Int {
        let all = (spec["initContainers"]?.array ?? []) + (spec["containers"]?.array ?? [])
        let taken = Set(
            all.flatMap { $0["ports"]?.array ?? [] }.compactMap { $0["containerPort"]?.number.map { Int($0) } })
        var port = settings.probePort
        while taken.contains(port) && port < 65535 { port += 1 }
        return port
    }

    /// Adds to an injected container what workload identity gave the app after our injection.
    private func completeWorkloadIdentity(
        _ container: JSONValue, at path: String, source: (environment: [JSONValue], mounts: [JSONValue])
    ) -> [PatchOperation] {
        let environment = container["env"]?.array ?? []
        let mounts = container["volumeMounts"]?.array ?? []
        let missingVariables = source.environment.filter { variable in
            !environment.contains { $0["name"] == variable["name"] }
        }
        let missingMounts = source.mounts.filter { mount in
            !mounts.contains { $0["name"] == mount["name"] || $0["mountPath"] == mount["mountPath"] }
        }
        return Self.append(missingVariables, to: path + "/env", exists: container["env"] != nil)
            + Self.append(missingMounts, to: path + "/volumeMounts", exists: container["volumeMounts"] != nil)
    }

    /// Appends to a list, creating it when the pod has none.
    private static func append(_ values: [JSONValue], to path: String, exists: Bool) -> [PatchOperation] {
        guard !values.isEmpty else { return [] }
        return exists ? values.map { .add(path + "/-", $0) } : [.add(path, .array(values))]
    }

    /// Puts one value first in a list (our init container runs before the app's own).
    private static func prepend(_ value: JSONValue, to path: String, exists: Bool) -> [PatchOperation] {
        exists ? [.add(path + "/0", value)] : [.add(path, [value])]
    }

    private static func merge(_ left: JSONValue, _ right: JSONValue) -> JSONValue {
        .object((left.object ?? [:]).merging(right.object ?? [:]) { _, new in new })
    }
}
