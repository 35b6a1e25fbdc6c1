import ArgumentParser
import AzureCore
import DaemonSupport
import Logging
import ProcessRuntime
import ServiceLifecycle
import SidecarConfig
import SidecarInjector
import UnixSignals

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mr-token-sidecar webhook`: the mutating admission webhook that injects the sidecar.
struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Serve the mutating admission webhook that injects mr-token-sidecar into pods that ask for it.",
        discussion: """
            Serves AdmissionReview v1 at /mutate over HTTPS, and /healthz, /readyz and /metrics over \
            HTTP on --probe-address. /readyz passes once a certificate is loaded; the certificate \
            files are checked every --certificate-check-interval and a new pair is used from the \
            next connection. Pods labelled mixedreality.azure.com/inject: "true" get the sidecar as \
            their annotations describe (see charts/mr-token-sidecar/README.md).
            """)

    @Option(help: "host:port of the HTTPS server.")
    var address = "0.0.0.0:8443"

    @Option(help: "host:port of the probe and metrics server (plain HTTP).")
    var probeAddress = "0.0.0.0:8080"

    @Option(help: "The PEM certificate (chain) to serve.")
    var tlsCertFile = "/etc/mr-token-sidecar-webhook/tls/tls.crt"

    @Option(help: "Its PEM private key.")
    var tlsKeyFile = "/etc/mr-token-sidecar-webhook/tls/tls.key"

    @Option(help: "How often the certificate files are checked for changes (such as 5s).")
    var certificateCheckInterval = "5s"

    @Option(help: "The sidecar image injected (a pod may override it with mixedreality.azure.com/image).")
    var sidecarImage: String

    @Option(help: "The injected containers' imagePullPolicy.")
    var sidecarImagePullPolicy = "IfNotPresent"

    @Flag(
        help: """
            Inject an init container running --once plus a regular sidecar container, for clusters \
            older than 1.29 (default: a native sidecar).
            """)
    var legacySidecar = false

    @Option(help: "The sidecar's probe port inside the pod.")
    var sidecarPort = 8787

    @Option(help: "The sidecar's resources, as JSON (a pod may override them with mixedreality.azure.com/resources).")
    var sidecarResources = String(decoding: InjectorSettings.defaultResources.encoded(), as: UTF8.self)

    @Option(help: "The sizeLimit of the in-memory token volume.")
    var tokenVolumeSizeLimit = "1Mi"

    @Option(
        help: ArgumentHelp(
            "The credential types pods may use, comma-separated (managedIdentity and default act as the node's identity on many clusters).",
            valueName: "type[,type...]"))
    var allowedCredentials = InjectionPolicy.defaultAllowedCredentials.map(\.rawValue).joined(separator: ",")

    @Flag(help: "Honour mixedreality.azure.com/image (default: the annotation is refused).")
    var allowImageOverride = false

    @Option(
        help: ArgumentHelp(
            "With --allow-image-override: the registries allowed, each a host (with its port) and optionally a path under it, comma-separated (default: any).",
            valueName: "host[/path][,...]"))
    var allowedImageRegistries = ""

    @Option(help: "The most CPU mixedreality.azure.com/resources may ask for, such as 200m (default: no bound).")
    var maxSidecarCpu: String?

    @Option(help: "The most memory mixedreality.azure.com/resources may ask for, such as 128Mi (default: no bound).")
    var maxSidecarMemory: String?

    @Option(
        help: ArgumentHelp(
            "Hosts the injected sidecars may send secrets to besides the Azure clouds' (their MR_TOKEN_SIDECAR_ALLOWED_HOSTS).",
            valueName: "host[,host...]"))
    var sidecarAllowedHosts = ""

    @Option(
        help: ArgumentHelp(
            "Entra ID scopes the injected sidecars may ask for besides the Mixed Reality resource's (their MR_TOKEN_SIDECAR_ALLOWED_SCOPES).",
            valueName: "scope[,scope...]"))
    var sidecarAllowedScopes = ""

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

    @Option(help: "The key of the CA bundle in that ConfigMap or Secret.")
    var sidecarCaKey = "ca.crt"

    @Option(help: "The injected sidecars' log level (their MR_TOKEN_SIDECAR_LOG_LEVEL; default: their config's).")
    var sidecarLogLevel: LogConfiguration.Level?

    @Option(
        help: ArgumentHelp(
            "More environment for the injected sidecars, as a JSON list of {\"name\", \"value\"} (such as a cluster-wide HTTPS_PROXY; a variable the pod's containers set wins).",
            valueName: "json"))
    var sidecarEnv = "[]"

    @Option(
        help:
            "After SIGTERM, how long /readyz fails while /mutate still answers, so that the API server stops sending first (such as 5s)."
    )
    var shutdownDelay = "0s"

    @Option(help: "Connections open at once, per server; idle and half-open ones make room for new ones.")
    var maxConnections = ServerLimits().maxConnections

    @Option(
        help: "How long a connection may take to complete its first request, and a request to arrive (such as 10s).")
    var requestTimeout = "10s"

    @Option(
        help:
            "How long a request's body may take to arrive after its head (such as 5s); one that arrives slower than 16 KiB a second is cut off after its first second."
    )
    var bodyTimeout = "5s"

    @Option(help: "How long a kept-alive connection may stay idle (such as 60s).")
    var idleTimeout = "60s"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: LogConfiguration.Level = .info

    @Option(help: "json or text.")
    var logFormat: LogConfiguration.Format = .json

    func validate() throws {
        if (try? ConfigDuration.parse(certificateCheckInterval)) == nil {
            throw ValidationError(
                "--certificate-check-interval \(certificateCheckInterval) is not a duration such as 5s")
        }
        switch InjectionRequest.parseResources(sidecarResources) {
        case .failure(let denial): throw ValidationError("--sidecar-resources: \(denial.reason)")
        case .success(let resources):
            if let problem = InjectionPolicy.problem(with: resources, maxCPU: nil, maxMemory: nil) {
                throw ValidationError("--sidecar-resources: \(problem)")
            }
        }
        if !["Always", "IfNotPresent", "Never"].contains(sidecarImagePullPolicy) {
            throw ValidationError("--sidecar-image-pull-policy must be Always, IfNotPresent or Never")
        }
        if !(1...65535).contains(sidecarPort) { throw ValidationError("--sidecar-port must be between 1 and 65535") }
        if !InjectionRequest.isQuantity(tokenVolumeSizeLimit) {
            throw ValidationError("--token-volume-size-limit \(tokenVolumeSizeLimit) is not a quantity such as 1Mi")
        }
        if sidecarImage.isEmpty || sidecarImage.contains(where: \.isWhitespace) {
            throw ValidationError("--sidecar-image must be an image reference")
        }
        _ = try policy()
        for (flag, value) in [
            ("--request-timeout", requestTimeout), ("--idle-timeout", idleTimeout), ("--body-timeout", bodyTimeout),
        ] {
            guard let duration = try? ConfigDuration.parse(value), duration > .zero else {
                throw ValidationError("\(flag) \(value) is not a duration such as 10s")
            }
        }
        if !(1...65536).contains(maxConnections) {
            throw ValidationError("--max-connections must be between 1 and 65536")
        }
        guard let delay = try? ConfigDuration.parse(shutdownDelay), delay >= .zero, delay <= .seconds(60) else {
            throw ValidationError("--shutdown-delay \(shutdownDelay) is not a duration from 0s to 60s")
        }
        _ = try sidecarEnvironment()
    }

    /// `--sidecar-env` checked: a list of `{name, value}` with environment variable names, none of
    /// the sidecar's own `MR_TOKEN_SIDECAR_*` (the webhook sets those from its other flags).
    func sidecarEnvironment() throws -> [JSONValue] {
        guard let list = JSON.decode(JSONValue.self, from: Array(sidecarEnv.utf8))?.array else {
            throw ValidationError(
                "--sidecar-env must be a JSON list such as [{\"name\":\"HTTPS_PROXY\",\"value\":\"http://proxy:3128\"}]"
            )
        }
        for entry in list {
            guard let object = entry.object, let name = object["name"]?.string, object["value"]?.string != nil,
                Set(object.keys).isSubset(of: ["name", "value"])
            else {
                throw ValidationError(
                    "--sidecar-env: each entry is {\"name\": ..., \"value\": ...} with a string value")
            }
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
                name.first?.isNumber == false
            else { throw ValidationError("--sidecar-env: \(LogText.bounded(name, limit: 60)) is not a variable name") }
            guard !name.hasPrefix("MR_TOKEN_SIDECAR_") else {
                throw ValidationError("--sidecar-env: \(name) is set by the webhook's own flags")
            }
        }
        return list
    }

    /// The admin's policy from the flags.
    func policy() throws -> InjectionPolicy {
        var kinds: [CredentialConfiguration.Kind] = []
        for name in allowedCredentials.split(separator: ",").map({ $0.trimmed }) where !name.isEmpty {
            guard let kind = CredentialConfiguration.Kind(rawValue: name) else {
                throw ValidationError(
                    "--allowed-credentials: \(name) is not one of "
                        + CredentialConfiguration.Kind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            kinds.append(kind)
        }
        var bounds: [Double?] = []
        for (flag, value) in [("--max-sidecar-cpu", maxSidecarCpu), ("--max-sidecar-memory", maxSidecarMemory)] {
            guard let value else {
                bounds.append(nil)
                continue
            }
            guard let number = Quantity.value(value) else {
                throw ValidationError("\(flag) \(value) is not a quantity such as 200m or 128Mi")
            }
            bounds.append(number)
        }
        let hosts: [String]
        do {
            hosts = try EgressPolicy.parse(sidecarAllowedHosts)
        } catch {
            throw ValidationError("--sidecar-allowed-hosts: \(error.message)")
        }
        var bundle: CABundle?
        switch (sidecarCaConfigmap, sidecarCaSecret) {
        case (.some, .some):
            throw ValidationError("give --sidecar-ca-configmap or --sidecar-ca-secret, not both")
        case (.some(let name), nil), (nil, .some(let name)):
            guard InjectionRequest.isDNSSubdomain(name) else {
                throw ValidationError(
                    "--sidecar-ca-configmap/--sidecar-ca-secret: \(LogText.bounded(name, limit: 80)) is not an object name"
                )
            }
            guard !sidecarCaKey.isEmpty, sidecarCaKey.count <= 253,
                sidecarCaKey.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
            else { throw ValidationError("--sidecar-ca-key: \(LogText.bounded(sidecarCaKey, limit: 80)) is not a key") }
            bundle = CABundle(kind: sidecarCaConfigmap != nil ? .configMap : .secret, name: name, key: sidecarCaKey)
        case (nil, nil):
            bundle = nil
        }
        return InjectionPolicy(
            allowedCredentials: kinds, allowImageOverride: allowImageOverride,
            allowedImageRegistries: allowedImageRegistries.split(separator: ",").map { $0.trimmed }.filter {
                !$0.isEmpty
            },
            maxCPU: bounds[0], maxMemory: bounds[1], sidecarAllowedHosts: hosts,
            sidecarAllowedScopes: OperatorPolicy.parseScopes(sidecarAllowedScopes), sidecarCABundle: bundle)
    }

    func run() async throws {
        let (logger, _) = LogConfiguration(level: logLevel, format: logFormat).makeLogger(
            label: "mr-token-sidecar-webhook")
        GlobalExecutor.logInstallation(to: logger)
        MemoryTuning.logChoice(to: logger, environment: ProcessInfo.processInfo.environment)
        let settings = InjectorSettings(
            image: sidecarImage, imagePullPolicy: sidecarImagePullPolicy, nativeSidecar: !legacySidecar,
            probePort: sidecarPort,
            resources: (try? InjectionRequest.parseResources(sidecarResources).get())
                ?? InjectorSettings.defaultResources,
            tokenVolumeSizeLimit: tokenVolumeSizeLimit, policy: try policy(), logLevel: sidecarLogLevel?.rawValue,
            environment: try sidecarEnvironment())
        var limits = ServerLimits(maxConnections: maxConnections)
        limits.firstRequestTimeout = (try? ConfigDuration.parse(requestTimeout)) ?? limits.firstRequestTimeout
        limits.requestTimeout = limits.firstRequestTimeout
        limits.idleTimeout = (try? ConfigDuration.parse(idleTimeout)) ?? limits.idleTimeout
        limits.bodyTimeout = (try? ConfigDuration.parse(bodyTimeout)) ?? limits.bodyTimeout
        let options = WebhookOptions(
            address: address, probeAddress: probeAddress, certificateFile: tlsCertFile, keyFile: tlsKeyFile,
            certificateCheckInterval: (try? ConfigDuration.parse(certificateCheckInterval)) ?? .seconds(5),
            settings: settings, limits: limits,
            shutdownDelay: (try? ConfigDuration.parse(shutdownDelay)) ?? .zero)
        let app: WebhookApp
        do {
            app = try WebhookApp.build(options: options, logger: logger, clock: GlobalExecutor.clock)
        } catch {
            StandardStreams.error("\(error)\n")
            throw ExitCode(2)
        }
        logger.info(
            "\(ProductInfo.name) webhook \(ProductInfo.version) starting",
            metadata: [
                LogKeys.sidecarImage: "\(sidecarImage)", LogKeys.nativeSidecar: .boolean(!legacySidecar),
                LogKeys.version: "\(ProductInfo.version)",
            ])
        var group = ServiceGroupConfiguration(services: [.init(service: app)], logger: logger)
        group.useProjectLogKeys()
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = options.shutdownDelay + .seconds(10)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            logger.critical("stopped on an error", metadata: [LogKeys.errorMessage: "\(error)"])
            throw ExitCode(1)
        }
    }
}
