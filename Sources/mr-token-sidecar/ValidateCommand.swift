import ArgumentParser
import DaemonSupport
import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mr-token-sidecar validate`: every config problem with its key path and line.
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check the config file and report every problem with its key path and line; touch nothing.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try options.load(environment: ProcessInfo.processInfo.environment)
        StandardStreams.output("\(options.source): valid, \(configuration.accounts.count) account(s)\n")
    }
}
