import ArgumentParser
import AzureCore
import DaemonSupport
import Logging
import ProcessRuntime
import ServiceLifecycle
import SidecarConfig
import TokenSidecar
import UnixSignals

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mr-token-sidecar run`: the sidecar, until SIGTERM or SIGINT; with `--once`, every token once.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Keep every token fresh until SIGTERM or SIGINT (default); with --once, write them once and exit.",
        discussion: """
            SIGHUP or a change of the config file reloads it (an invalid new config is logged and \
            the old one kept). SIGTERM and SIGINT finish the write in flight and exit 0; token files \
            are never deleted.

            --once (an init container): writes every token, adopting files that are still valid, \
            and exits 0, or 1 naming the accounts that failed.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Write every token once and exit (init container mode).")
    var once = false

    @Option(
        help: ArgumentHelp(
            "Where a failed start writes its summary for kubectl describe pod (written only if it exists, unless given).",
            valueName: "path"))
    var terminationMessagePath: String?

    /// Leaves the summary of a failed start where Kubernetes shows it.
    private func terminate(_ text: String) {
        TerminationMessage.write(
            text, to: terminationMessagePath ?? TerminationMessage.defaultPath, explicit: terminationMessagePath != nil)
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try options.load(environment: environment) { terminate("mr-token-sidecar: \($0)") }
        let (logger, box) = configuration.log.makeLogger()
        GlobalExecutor.logInstallation(to: logger)
        MemoryTuning.logChoice(to: logger, environment: environment)
        // The process runtime's choices (docs/architecture.md): the wall clock sleeping on an
        // event-loop timer, and the idle memory trim after each burst of refreshes.
        let trimmer =
            MemoryTuning.isEnabled(environment: environment)
            ? MemoryTrimmer(logger: logger, clock: GlobalExecutor.clock) : nil
        let app: SidecarApp<SystemWallClock>
        do {
            app = try SidecarApp.build(
                configuration: configuration, configPath: options.watchedPath, environment: environment,
                version: ProductInfo.version, logger: logger, levelBox: box,
                clock: SystemWallClock(timer: GlobalExecutor.clock), onActivity: { trimmer?.noteActivity() },
                once: once)
        } catch {
            StandardStreams.error("\(options.source): \(error)\n")
            terminate("mr-token-sidecar: \(options.source): \(error)\n")
            throw ExitCode(2)
        }
        if once {
            try await runOnce(app, logger: logger)
            return
        }
        logger.info(
            "\(ProductInfo.name) \(ProductInfo.version) starting",
            metadata: [LogKeys.config: "\(options.source)", LogKeys.version: "\(ProductInfo.version)"])
        var group = ServiceGroupConfiguration(
            services: [.init(service: app), .init(service: ReloadSignal(app: app))]
                + (trimmer.map { [.init(service: $0)] } ?? []),
            logger: logger)
        group.useProjectLogKeys()
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(25)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            logger.critical("stopped on an error", metadata: [LogKeys.errorMessage: "\(error)"])
            terminate("mr-token-sidecar stopped on an error: \(error)\n")
            throw ExitCode(1)
        }
    }

    private func runOnce(_ app: SidecarApp<SystemWallClock>, logger: Logger) async throws {
        let failures = await app.runOnce()
        guard failures.isEmpty else {
            for failure in failures {
                logger.error(
                    "account failed",
                    metadata: [
                        LogKeys.account: "\(failure.account)", LogKeys.errorType: "\(failure.advice.code)",
                        LogKeys.errorMessage: "\(failure.advice.message)",
                        LogKeys.hop: "\(failure.advice.hop.rawValue)",
                        LogKeys.fix: "\(failure.advice.fix)",
                    ])
            }
            StandardStreams.error("failed accounts: \(failures.map(\.account).joined(separator: ", "))\n")
            terminate(TerminationMessage.failures(failures))
            throw ExitCode(1)
        }
        logger.info("every token is on disk", metadata: [LogKeys.count: .integer(app.configuration.accounts.count)])
    }
}

/// SIGHUP reloads the config file: the executable owns the process's signals and passes the
/// request in.
struct ReloadSignal: Service {
    let app: SidecarApp<SystemWallClock>

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals { app.reload(reason: "SIGHUP") }
        }
    }
}

extension RunCommand {
    /// `run` with only its own options, each well formed and given once, read without
    /// swift-argument-parser: the path every pod start takes. swift-argument-parser finds a
    /// command's options by reflection and dynamic casts, and each first cast scans every
    /// protocol conformance of this 38 MB binary (a few milliseconds of a cold start, see
    /// docs/benchmarks.md). Anything else (`--help`, `--version`, another subcommand, an unknown
    /// or repeated option, a value that looks like an option, an invalid `--allowed-hosts` or `--ca-file`)
    /// returns `nil` and goes through swift-argument-parser, with its messages. Every option of
    /// `run` must be set here (an unset one would be read in its definition state):
    /// `SidecarProcessTests.runCommandLine` compares swift-argument-parser's list with this one.
    static func quickParse(_ arguments: [String]) -> RunCommand? {
        var rest = arguments[...]
        if rest.first == "run" { rest = rest.dropFirst() }
        var once = false
        var values: [String: String] = [:]
        let valued = [
            "--config": "--config", "-c": "--config", "--config-env": "--config-env",
            "--allowed-hosts": "--allowed-hosts", "--termination-message-path": "--termination-message-path",
            "--ca-file": "--ca-file", "--allowed-scopes": "--allowed-scopes",
        ]
        while let argument = rest.popFirst() {
            var name = argument
            var value: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            if name == "--once" {
                guard value == nil, !once else { return nil }
                once = true
                continue
            }
            guard let key = valued[name], values[key] == nil else { return nil }
            if value == nil { value = rest.popFirst() }
            guard let value, !value.isEmpty, !value.hasPrefix("-") else { return nil }
            values[key] = value
        }
        var options = ConfigOptions()
        options.config = values["--config"] ?? ConfigOptions.defaultConfigPath
        options.configEnv = values["--config-env"]
        options.allowedHosts = values["--allowed-hosts"]
        options.caFile = values["--ca-file"]
        options.allowedScopes = values["--allowed-scopes"]
        guard (try? options.validate()) != nil else { return nil }
        var command = RunCommand()
        command.options = options
        command.once = once
        command.terminationMessagePath = values["--termination-message-path"]
        return command
    }
}
