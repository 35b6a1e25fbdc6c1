import ArgumentParser
import AzureCore
import DaemonSupport
import Logging
import STSEmulator
import ServiceLifecycle
import SidecarConfig
import TokenSidecar
import UnixSignals

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mr-token-sidecar-demo`: the STS emulator and the sidecar side by side, two demo accounts with
/// short-lived tokens refreshed live. The sidecar runs from the same code and config file as in
/// a pod; the emulator stands in for Azure. Its own executable, so that the production binary
/// links no emulator.
@main
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mr-token-sidecar-demo",
        abstract:
            "Run the sidecar against an in-process STS emulator: two accounts, one-minute tokens, refreshed live.",
        discussion: """
            Writes ./demo-tokens/config.yaml (edit it while the demo runs: it reloads), the tokens \
            (anchors.token: the JWT alone; rendering.json: JSON with the expiry) and the emulator's \
            throwaway secrets under ./demo-tokens/.secrets. Probes at http://127.0.0.1:8787/status. \
            Stop with Ctrl-C.
            """,
        version: ReleaseVersion.current)

    @Option(help: "The folder for the config and the token files.")
    var dir: String = "demo-tokens"

    @Option(help: "Lifetime of the emulator's Mixed Reality tokens, in seconds.")
    var tokenLifetime: Int = 60

    @Option(help: "Port of the probe server (0 picks a free one).")
    var port: Int = 8787

    @Option(help: "Stop after this many seconds (default: run until Ctrl-C).")
    var duration: Int?

    func validate() throws {
        guard tokenLifetime >= 10 else { throw ValidationError("--token-lifetime must be at least 10 seconds") }
    }

    func run() async throws {
        let root = URL(filePath: dir, directoryHint: .isDirectory).standardizedFileURL
        let secrets = root.appending(path: ".secrets")
        try FileManager.default.createDirectory(
            at: secrets, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let accounts = DemoAccounts(secrets: secrets)
        try accounts.writeSecrets()
        let quiet = Logger(label: "emulator", factory: { _ in SwiftLogNoOpLogHandler() })
        let emulator = try STSEmulator(
            configuration: accounts.emulatorConfiguration(tokenLifetime: tokenLifetime), logger: quiet)
        let sidecar = DemoSidecar(
            emulator: emulator, accounts: accounts, root: root, port: port, tokenLifetime: tokenLifetime)
        // The emulator first, so that it stops last: the sidecar finishes its work against it.
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: emulator), .init(service: sidecar)], logger: quiet)
        configuration.useProjectLogKeys()
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        let group = ServiceGroup(configuration: configuration)
        // The group runs until Ctrl-C (SIGINT), SIGTERM or the end of --duration, each a graceful
        // shutdown; the timer never cuts the shutdown short.
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await group.run()
                return true
            }
            if let duration {
                tasks.addTask {
                    try await Task.sleep(for: .seconds(duration))
                    await group.triggerGracefulShutdown()
                    return false
                }
            }
            while let groupFinished = try await tasks.next(), !groupFinished {}
            tasks.cancelAll()
        }
    }
}

/// The demo's two accounts and the throwaway secrets they use (an account key, and an Entra
/// application's client secret), written where the config points.
struct DemoAccounts {
    let secrets: URL
    let anchorsId = UUID().uuidString.lowercased()
    let renderingId = UUID().uuidString.lowercased()
    let tenantId = UUID().uuidString.lowercased()
    let clientId = UUID().uuidString.lowercased()
    let accountKey = DemoAccounts.secret()
    let clientSecret = DemoAccounts.secret()

    var caPath: String { secrets.appending(path: "emulator-ca.pem").path }
    var keyFile: String { secrets.appending(path: "anchors.key").path }
    var secretFile: String { secrets.appending(path: "client-secret").path }

    func writeSecrets() throws {
        try Data(accountKey.utf8).write(to: URL(filePath: keyFile))
        try Data(clientSecret.utf8).write(to: URL(filePath: secretFile))
        for file in [keyFile, secretFile] {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        }
    }

    func emulatorConfiguration(tokenLifetime: Int) -> EmulatorConfiguration {
        EmulatorConfiguration(
            caCertificatePath: caPath,
            accounts: [
                .init(accountId: anchorsId, accountKeys: [accountKey], accountDomain: "eastus2.mixedreality.azure.com"),
                .init(
                    accountId: renderingId, accountKeys: [Self.secret()],
                    accountDomain: "westeurope.mixedreality.azure.com"),
            ],
            applications: [.init(tenantId: tenantId, clientId: clientId, clientSecrets: [clientSecret])],
            stsTokenLifetimeSeconds: tokenLifetime
        )
    }

    /// The sidecar's config, as a pod's ConfigMap would hold it, pointing at the emulator.
    func configYAML(emulator url: String, root: URL, port: Int) -> String {
        """
        # Written by `mr-token-sidecar-demo`. Edit it while the demo runs: it is reloaded.
        accounts:
          - name: anchors                       # account key from a file
            accountId: \(anchorsId)
            accountDomain: eastus2.mixedreality.azure.com
            endpoint: \(url)
            credential:
              type: accountKey
              keyFile: \(keyFile)
            output:
              path: \(root.appending(path: "anchors.token").path)
              format: token
              mode: "0640"
          - name: rendering                     # Entra ID client secret, then the STS
            accountId: \(renderingId)
            accountDomain: westeurope.mixedreality.azure.com
            endpoint: \(url)
            credential:
              type: clientSecret
              tenantId: \(tenantId)
              clientId: \(clientId)
              secretFile: \(secretFile)
              authorityHost: \(url)
            output:
              path: \(root.appending(path: "rendering.json").path)
              format: json
              mode: "0640"
        refresh:
          at: 0.5
          jitter: 0.1
          minBackoff: 1s
          maxBackoff: 10s
        tls:
          caFile: \(caPath)
        server:
          address: 127.0.0.1:\(port)
          readyMinValidity: 5s
        log:
          level: info
          format: text

        """
    }

    static func secret() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }
}

/// The sidecar of the demo: once the emulator listens, it writes the config file and runs the
/// sidecar from it, as `mr-token-sidecar run --config` does in a pod.
struct DemoSidecar: Service {
    let emulator: STSEmulator
    let accounts: DemoAccounts
    let root: URL
    let port: Int
    let tokenLifetime: Int

    func run() async throws {
        let url = try await emulator.waitUntilRunning().absoluteString
        let configPath = root.appending(path: "config.yaml").path
        try Data(accounts.configYAML(emulator: url, root: root, port: port).utf8).write(
            to: URL(filePath: configPath), options: .atomic)
        let environment = ProcessInfo.processInfo.environment
        // The emulator is not an Azure host: the demo allows its address the way a deployment
        // would, outside the config file (as `--allowed-hosts 127.0.0.1`).
        let allowedHosts = [URL(string: url)?.host ?? "127.0.0.1"]
        let configuration = try ConfigLoader.load(
            path: configPath, environment: environment, flags: OperatorPolicy.Flags(allowedHosts: allowedHosts))
        let (logger, box) = DaemonLogHandler.logger(label: "mr-token-sidecar", level: .info, format: .text)
        let app = try SidecarApp.build(
            configuration: configuration, configPath: configPath, environment: environment,
            version: ReleaseVersion.current, logger: logger, levelBox: box,
            clock: SystemWallClock(timer: ContinuousClock()),
            onListening: { [root, tokenLifetime] port in
                StandardStreams.output(
                    """

                    mr-token-sidecar demo: STS emulator at \(url), \(tokenLifetime)-second tokens.
                      tokens:  \(root.path)/anchors.token, \(root.path)/rendering.json
                      config:  \(configPath)  (edit it: it reloads)
                      probes:  http://127.0.0.1:\(port)/status  /readyz  /metrics
                      Ctrl-C stops the demo; the token files stay.


                    """)
            })
        try await app.run()
    }
}
