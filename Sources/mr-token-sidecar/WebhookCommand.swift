import ArgumentParser
import AzureCore
import DaemonSupport
import Logging
import ServiceLifecycle
import SidecarConfig
import SidecarInjector
import UnixSignals

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

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: LogConfiguration.Level = .info

    @Option(help: "json or text.")
    var logFormat: LogConfiguration.Format = .json

    func validate() throws {
        if (try? ConfigDuration.parse(certificateCheckInterval)) == nil {
            throw ValidationError(
                "--certificate-check-interval \(certificateCheckInterval) is not a duration such as 5s")
        }
        if case .failure(let denial) = InjectionRequest.parseResources(sidecarResources) {
            throw ValidationError("--sidecar-resources: \(denial.reason)")
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
    }

    func run() async throws {
        let (logger, _) = LogConfiguration(level: logLevel, format: logFormat).makeLogger(
            label: "mr-token-sidecar-webhook")
        let settings = InjectorSettings(
            image: sidecarImage, imagePullPolicy: sidecarImagePullPolicy, nativeSidecar: !legacySidecar,
            probePort: sidecarPort,
            resources: (try? InjectionRequest.parseResources(sidecarResources).get())
                ?? InjectorSettings.defaultResources,
            tokenVolumeSizeLimit: tokenVolumeSizeLimit)
        let options = WebhookOptions(
            address: address, probeAddress: probeAddress, certificateFile: tlsCertFile, keyFile: tlsKeyFile,
            certificateCheckInterval: (try? ConfigDuration.parse(certificateCheckInterval)) ?? .seconds(5),
            settings: settings)
        let app: WebhookApp
        do {
            app = try WebhookApp.build(options: options, logger: logger)
        } catch {
            StandardStreams.error("\(error)\n")
            throw ExitCode(2)
        }
        logger.info(
            "\(ProductInfo.name) webhook \(ProductInfo.version) starting",
            metadata: ["sidecarImage": "\(sidecarImage)", "native": "\(!legacySidecar)"])
        var group = ServiceGroupConfiguration(services: [.init(service: app)], logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(10)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            logger.critical("stopped on an error", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }
}
