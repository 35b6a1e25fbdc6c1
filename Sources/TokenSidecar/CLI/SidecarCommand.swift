public import ArgumentParser
import AzureCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import MixedRealityAuthentication

/// `mr-token-sidecar`: keeps Azure Mixed Reality access tokens fresh in files.
///
/// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
public struct SidecarCommand: AsyncParsableCommand, Sendable {
    public static let configuration = CommandConfiguration(
        commandName: "mr-token-sidecar",
        abstract: "Keeps Azure Mixed Reality access tokens fresh in files for the application next to it.",
        discussion: """
            Reads a YAML config naming Mixed Reality accounts and the files holding their secrets, \
            exchanges those credentials for Mixed Reality tokens, and keeps each token fresh in a \
            file (written atomically) that the application reads. See docs/config.md.

            Exit codes: 0 success, 1 runtime failure (run --once: some account failed), 2 usage or \
            configuration error.
            """,
        version: ProjectInfo.version,
        subcommands: [Run.self, Validate.self, Token.self, Webhook.self, Demo.self],
        defaultSubcommand: Run.self
    )

    public init() {}

    /// Parses the command line and runs, with exit code 2 for usage errors.
    public static func runMain() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandleWriter.standardError(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Unbuffered writes to standard output and error (no `FileHandle` in FoundationEssentials).
enum FileHandleWriter {
    static func standardError(_ text: String) { write(text, to: 2) }
    static func standardOutput(_ text: String) { write(text, to: 1) }

    static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The config file.")
    var config: String = "/etc/mr-token-sidecar/config.yaml"

    @Option(
        help: ArgumentHelp(
            "Read the YAML config from this environment variable instead of a file (no reload).",
            valueName: "variable"))
    var configEnv: String?

    /// Where the config comes from, for messages: the file, or `$VARIABLE`.
    var source: String { configEnv.map { "$" + $0 } ?? config }

    /// The file to watch for changes, if the config comes from a file.
    var watchedPath: String? { configEnv == nil ? config : nil }

    /// The configuration, or exit 2 with every problem on standard error.
    func load(environment: [String: String]) throws -> SidecarConfiguration {
        do {
            if let configEnv {
                guard let text = environment[configEnv], !text.trimmed.isEmpty else {
                    FileHandleWriter.standardError(
                        "the environment variable \(configEnv) named by --config-env is not set or empty\n")
                    throw ExitCode(2)
                }
                return try ConfigLoader.parse(text, file: source, environment: environment)
            }
            return try ConfigLoader.load(path: config, environment: environment)
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandleWriter.standardError("\(error)\n")
            throw ExitCode(2)
        }
    }
}

func makeLogger(_ configuration: LogConfiguration, label: String = "mr-token-sidecar") -> (Logger, LogLevelBox) {
    let box = LogLevelBox(Logger.Level(rawValue: configuration.level.rawValue) ?? .info)
    let format: SidecarLogHandler.Format = configuration.format == .json ? .json : .text
    let logger = Logger(label: label, factory: { label in SidecarLogHandler(label: label, format: format, level: box) })
    return (logger, box)
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try options.load(environment: environment)
        let (logger, box) = makeLogger(configuration.log)
        let app: SidecarApp
        do {
            app = try SidecarApp.build(
                configuration: configuration, configPath: options.watchedPath, environment: environment, logger: logger,
                levelBox: box)
        } catch {
            FileHandleWriter.standardError("\(options.source): \(error)\n")
            throw ExitCode(2)
        }
        if once {
            let failures = await app.runOnce()
            guard failures.isEmpty else {
                for failure in failures {
                    logger.error("account failed", metadata: [SidecarLogKeys.account: "\(failure.account)", SidecarLogKeys.error: "\(failure.reason)"])
                }
                FileHandleWriter.standardError("failed accounts: \(failures.map(\.account).joined(separator: ", "))\n")
                throw ExitCode(1)
            }
            logger.info("every token is on disk", metadata: [SidecarLogKeys.count: "\(configuration.accounts.count)"])
            return
        }
        logger.info("mr-token-sidecar \(ProjectInfo.version) starting", metadata: ["config": "\(options.source)"])
        do {
            try await app.run()
        } catch {
            logger.critical("stopped on an error", metadata: [SidecarLogKeys.error: "\(error)"])
            throw ExitCode(1)
        }
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the config file and report every problem with its key path and line; touch nothing.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try options.load(environment: ProcessInfo.processInfo.environment)
        FileHandleWriter.standardOutput("\(options.source): valid, \(configuration.accounts.count) account(s)\n")
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Get one account's token and print it on standard output (for debugging); write nothing.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "The account's name in the config.")
    var account: String

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try options.load(environment: environment)
        guard let selected = configuration.accounts.first(where: { $0.name.value == account }) else {
            FileHandleWriter.standardError(
                "no account named \(account) in \(options.source); the accounts are \(configuration.accounts.map(\.name.value).joined(separator: ", "))\n")
            throw ExitCode(2)
        }
        var log = configuration.log
        log.level = .warning
        let (logger, _) = makeLogger(log)
        var pipeline = HTTPPipelineOptions()
        pipeline.additionalTrustedCAFile = configuration.tls.caFile
        do {
            let factory = CredentialFactory(environment: environment, pipeline: pipeline)
            let (client, key) = try factory.client(for: selected)
            if let key, let file = selected.credential.keyFile { try key.update(try CredentialFactory.readKey(file)) }
            let token = try await client.getToken(logger: logger)
            _ = try JWTExpiry.claims(of: token.token)
            FileHandleWriter.standardOutput(token.token + "\n")
        } catch {
            FileHandleWriter.standardError("\(account): \(Failure(error).kind): \(Failure(error).message)\n")
            throw ExitCode(1)
        }
    }
}
