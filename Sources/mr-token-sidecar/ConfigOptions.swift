public import ArgumentParser
import AzureCore
import DaemonSupport
import Logging
import SidecarConfig

/// Where the config comes from: `--config FILE` (watched for changes) or `--config-env VARIABLE`.
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
                    StandardStreams.error(
                        "the environment variable \(configEnv) named by --config-env is not set or empty\n")
                    throw ExitCode(2)
                }
                return try ConfigLoader.parse(text, file: source, environment: environment)
            }
            return try ConfigLoader.load(path: config, environment: environment)
        } catch let error as ExitCode {
            throw error
        } catch {
            StandardStreams.error("\(error)\n")
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
