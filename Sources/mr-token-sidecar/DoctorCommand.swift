import ArgumentParser
import AzureCore
import DaemonSupport
import SidecarConfig
import TokenSidecar

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mr-token-sidecar doctor`: checks every hop of every account and says what to fix.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check every hop from the config to the token file, and say what to fix.",
        discussion: """
            For each account, in the order a token travels: the config, the secret files, the \
            projected service-account token (workload identity), name resolution, TCP and TLS to \
            Entra ID and the STS (through the proxy if one is set) and their clocks, the Entra ID \
            exchange, the STS exchange, and the output folders. Each account stops at its first \
            failure, with what is wrong and what to do. It exchanges credentials as the sidecar \
            does but writes no token and prints no secret or token. Run it in the sidecar \
            container: kubectl exec POD -c mr-token-sidecar -- mr-token-sidecar doctor

            The config is loaded under the same rules as run (the pod's --allowed-hosts, --ca-file, \
            --allowed-scopes and their variables). First it asks the running sidecar's /status \
            where that one sends secrets, and warns when the file differs: a change the sidecar \
            refused at reload, which this run, like its next restart, would apply.

            Exit codes: 0 every hop works (warnings aside), 1 a hop failed, 2 usage error.
            """)

    enum Output: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var options: ConfigOptions

    @Option(help: "Check this account only.")
    var account: String?

    @Option(help: "text (default) or json.")
    var output: Output = .text

    @Option(
        help: ArgumentHelp(
            "The running sidecar's probe server, to compare where the file sends secrets with where it does"
                + " (default: the config's server.address on loopback; none: no comparison).",
            valueName: "host:port"))
    var sidecarAddress: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var problems = ""
        var report: Doctor.Report
        do {
            let configuration = try options.load(environment: environment) { problems += $0 }
            if let account, !configuration.accounts.contains(where: { $0.name.value == account }) {
                StandardStreams.error("the config has no account named \(account)\n")
                throw ExitCode(2)
            }
            let pipeline = configuration.pipelineOptions(applicationId: "\(ProductInfo.name)/\(ProductInfo.version)")
            let doctor = Doctor(configuration: configuration, environment: environment, pipeline: pipeline)
            let running = await doctor.compareWithRunning(
                at: sidecarAddress == "none" ? nil : sidecarAddress ?? doctor.runningAddress)
            report = await doctor.run(account: account)
            report.running = running
        } catch let error as ExitCode where error == ExitCode(2) && !problems.isEmpty {
            report = Doctor.configFailure(problems.trimmed)
        }
        switch output {
        case .text: StandardStreams.output(Doctor.text(report))
        case .json: StandardStreams.output(String(decoding: JSON.encode(report), as: UTF8.self) + "\n")
        }
        if !report.ok { throw ExitCode(1) }
    }
}
