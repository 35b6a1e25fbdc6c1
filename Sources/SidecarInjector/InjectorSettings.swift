package import AzureCore

/// What the chart decides for every injected sidecar (the pod's annotations may override the
/// image and the resources).
package struct InjectorSettings: Sendable, Hashable {
    /// The sidecar image (the chart's own image by default).
    package var image: String
    package var imagePullPolicy: String
    /// `true`: a native sidecar (init container with `restartPolicy: Always`, Kubernetes 1.29+).
    /// `false`: an init container running `--once` plus a regular sidecar container.
    package var nativeSidecar: Bool
    /// The port of the sidecar's probe server inside the pod.
    package var probePort: Int
    /// The sidecar's `resources`.
    package var resources: JSONValue
    /// The `sizeLimit` of the in-memory token volume.
    package var tokenVolumeSizeLimit: String
    /// What the cluster admin allows a pod.
    package var policy: InjectionPolicy
    /// The injected sidecar's log level (`MR_TOKEN_SIDECAR_LOG_LEVEL`); `nil`: its config's.
    package var logLevel: String?
    /// More environment for the injected sidecar, such as a cluster-wide `HTTPS_PROXY` (a
    /// variable the pod's own containers set wins).
    package var environment: [JSONValue]
    /// The release the injected pods are annotated with (`mixedreality.azure.com/sidecar-version`):
    /// the injector's own, whose image the chart injects unless `sidecar.image` or the pod's image
    /// annotation names another.
    package var sidecarVersion: String

    package static let defaultResources: JSONValue = [
        "requests": ["cpu": "5m", "memory": "32Mi"],
        "limits": ["cpu": "100m", "memory": "64Mi"],
    ]

    package init(
        image: String, imagePullPolicy: String = "IfNotPresent", nativeSidecar: Bool = true, probePort: Int = 8787,
        resources: JSONValue = defaultResources, tokenVolumeSizeLimit: String = "1Mi",
        policy: InjectionPolicy = InjectionPolicy(), logLevel: String? = nil, environment: [JSONValue] = [],
        sidecarVersion: String = ReleaseVersion.current
    ) {
        self.sidecarVersion = sidecarVersion
        self.logLevel = logLevel
        self.environment = environment
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.nativeSidecar = nativeSidecar
        self.probePort = probePort
        self.resources = resources
        self.tokenVolumeSizeLimit = tokenVolumeSizeLimit
        self.policy = policy
    }
}
