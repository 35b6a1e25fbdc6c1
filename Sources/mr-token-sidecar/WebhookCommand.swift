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

    @OptionGroup(title: "Injected sidecars")
    var injection: InjectionOptions

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
    }

    func run() async throws {
        // The injected sidecars' settings, checked here once: a ValidationError exits 2 as one from
        // validate() does (SidecarCommand.runMain).
        let settings = try injection.settings()
        let (logger, _) = LogConfiguration(level: logLevel, format: logFormat).makeLogger(
            label: "mr-token-sidecar-webhook")
        GlobalExecutor.logInstallation(to: logger)
        MemoryTuning.logChoice(to: logger, environment: ProcessInfo.processInfo.environment)
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
                LogKeys.sidecarImage: "\(settings.image)", LogKeys.nativeSidecar: .boolean(settings.nativeSidecar),
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
