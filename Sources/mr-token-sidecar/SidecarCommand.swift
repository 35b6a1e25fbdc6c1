import ArgumentParser
import DaemonSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `mr-token-sidecar`: keeps Azure Mixed Reality access tokens fresh in files.
///
/// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
struct SidecarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ProductInfo.name,
        abstract: "Keeps Azure Mixed Reality access tokens fresh in files for the application next to it.",
        discussion: """
            Reads a YAML config naming Mixed Reality accounts and the files holding their secrets, \
            exchanges those credentials for Mixed Reality tokens, and keeps each token fresh in a \
            file (written atomically) that the application reads. See docs/config.md.

            Exit codes: 0 success, 1 runtime failure (run --once: some account failed), 2 usage or \
            configuration error.
            """,
        version: ProductInfo.version,
        subcommands: [
            RunCommand.self, ValidateCommand.self, TokenCommand.self, DoctorCommand.self, WebhookCommand.self,
            InjectCommand.self,
            WebhookCheckCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )

    /// Parses the command line and runs, with exit code 2 for usage errors.
    static func runMain() async {
        do {
            // The pod's own start (`run` and its options) without swift-argument-parser's reflection.
            if let command = RunCommand.quickParse(Array(CommandLine.arguments.dropFirst())) {
                try await command.run()
                return
            }
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                StandardStreams.error(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }
}
