public import ArgumentParser
import AzureCore
import DaemonSupport
import Logging
import SidecarConfig

/// Where the config comes from: `--config FILE` (watched for changes) or `--config-env VARIABLE`.
struct ConfigOptions: ParsableArguments {
    /// Where the config is read from when `--config` is not given.
    static let defaultConfigPath = "/etc/mr-token-sidecar/config.yaml"

    @Option(name: .shortAndLong, help: "The config file.")
    var config: String = ConfigOptions.defaultConfigPath

    @Option(
        help: ArgumentHelp(
            "Read the YAML config from this environment variable instead of a file (no reload).",
            valueName: "variable"))
    var configEnv: String?

    @Option(
        help: ArgumentHelp(
            "Hosts (names or IP addresses, comma-separated) the sidecar may send secrets to besides the Azure clouds' STS"
                + " and Entra ID hosts; also MR_TOKEN_SIDECAR_ALLOWED_HOSTS. The config file cannot allow a host; its tls"
                + " and proxy sections apply to these hosts only.",
            valueName: "host[,host...]"))
    var allowedHosts: String?

    @Option(
        help: ArgumentHelp(
            "A PEM file of CA certificates trusted on top of the system's for every host, Azure's included (a"
                + " TLS-inspecting egress proxy's CA); also MR_TOKEN_SIDECAR_CA_FILE. The config file cannot add one.",
            valueName: "path"))
    var caFile: String?

    @Option(
        help: ArgumentHelp(
            "Entra ID scopes (comma-separated) an account's scope may name besides the Mixed Reality resource's;"
                + " also MR_TOKEN_SIDECAR_ALLOWED_SCOPES. The config file cannot allow a scope.",
            valueName: "scope[,scope...]"))
    var allowedScopes: String?

    /// The operator's flags.
    var flags: OperatorPolicy.Flags {
        OperatorPolicy.Flags(
            allowedHosts: (try? EgressPolicy.parse(allowedHosts ?? "")) ?? [], caFile: caFile,
            allowedScopes: OperatorPolicy.parseScopes(allowedScopes ?? ""))
    }

    func validate() throws {
        if let allowedHosts {
            do {
                _ = try EgressPolicy.parse(allowedHosts)
            } catch {
                throw ValidationError("--allowed-hosts: \(error.message)")
            }
        }
        if let caFile, !caFile.hasPrefix("/") {
            throw ValidationError("--ca-file must be an absolute path to a PEM file of CA certificates")
        }
    }

    /// Where the config comes from, for messages: the file, or `$VARIABLE`.
    var source: String { configEnv.map { "$" + $0 } ?? config }

    /// The file to watch for changes, if the config comes from a file.
    var watchedPath: String? { configEnv == nil ? config : nil }

    /// The configuration, or exit 2 with every problem on standard error (and told to `failed`).
    func load(
        environment: [String: String], failed: (String) -> Void = { _ in }
    ) throws -> SidecarConfiguration {
        do {
            if let configEnv {
                guard let text = environment[configEnv], !text.trimmed.isEmpty else {
                    let message = "the environment variable \(configEnv) named by --config-env is not set or empty\n"
                    StandardStreams.error(message)
                    failed(message)
                    throw ExitCode(2)
                }
                return try ConfigLoader.parse(text, file: source, environment: environment, flags: flags)
            }
            return try ConfigLoader.load(path: config, environment: environment, flags: flags)
        } catch let error as ExitCode {
            throw error
        } catch {
            StandardStreams.error("\(error)\n")
            failed("\(error)\n")
            throw ExitCode(2)
        }
    }
}

extension LogConfiguration {
    /// A logger writing as this section says, and the box that changes its level on reload.
    func makeLogger(label: String = ProductInfo.name) -> (Logger, LogLevelBox) {
        DaemonLogHandler.logger(
            label: label, level: Logger.Level(rawValue: level.rawValue) ?? .info,
            format: format == .json ? .json : .text)
    }
}

extension LogConfiguration.Level: ExpressibleByArgument {}
extension LogConfiguration.Format: ExpressibleByArgument {}
