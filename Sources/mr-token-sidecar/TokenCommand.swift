import ArgumentParser
import AzureCore
import DaemonSupport
import MixedRealityAuthentication
import SidecarConfig
import TokenSidecar

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mr-token-sidecar token`: one account's token on standard output, for debugging.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Get one account's token and print it on standard output (for debugging); write nothing.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "The account's name in the config.")
    var account: String

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try options.load(environment: environment)
        guard let selected = configuration.accounts.first(where: { $0.name.value == account }) else {
            StandardStreams.error(
                "no account named \(account) in \(options.source); the accounts are \(configuration.accounts.map(\.name.value).joined(separator: ", "))\n"
            )
            throw ExitCode(2)
        }
        var log = configuration.log
        log.level = .warning
        let (logger, _) = log.makeLogger()
        let pipeline = configuration.pipelineOptions(applicationId: "\(ProductInfo.name)/\(ProductInfo.version)")
        do {
            let source = try CredentialFactory(environment: environment, pipeline: pipeline).tokenSource(for: selected)
            let token = try await source.token(logger: logger).response.accessToken.token
            _ = try JWTExpiry.claims(of: token)
            StandardStreams.output(token + "\n")
        } catch {
            let described =
                (error as? any AzureError).map { "\($0.metricLabel): \(AttemptFailure(error: $0, at: Date()).message)" }
                ?? "\(error)"
            StandardStreams.error("\(account): \(described)\n")
            throw ExitCode(1)
        }
    }
}
