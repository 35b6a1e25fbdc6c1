import ArgumentParser
import AzureCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import STSEmulator
import ServiceLifecycle

/// The emulator in-process and two demo accounts with short-lived tokens, refreshed live.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the sidecar against an in-process STS emulator: two accounts, one-minute tokens, refreshed live.",
        discussion: """
            Writes ./demo-tokens/config.yaml (edit it while the demo runs: it reloads), the tokens \
            (anchors.token: the JWT alone; rendering.json: JSON with the expiry) and the emulator's \
            throwaway secrets under ./demo-tokens/.secrets. Probes at http://127.0.0.1:8787/status. \
            Stop with Ctrl-C.
            """)

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
        try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let caPath = secrets.appending(path: "emulator-ca.pem").path
        let anchorsId = UUID().uuidString.lowercased()
        let renderingId = UUID().uuidString.lowercased()
        let tenantId = UUID().uuidString.lowercased()
        let clientId = UUID().uuidString.lowercased()
        let accountKey = Self.secret()
        let clientSecret = Self.secret()
        let keyFile = secrets.appending(path: "anchors.key").path
        let secretFile = secrets.appending(path: "client-secret").path
        try Data(accountKey.utf8).write(to: URL(filePath: keyFile))
        try Data(clientSecret.utf8).write(to: URL(filePath: secretFile))
        for file in [keyFile, secretFile] { try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file) }

        let emulatorConfiguration = EmulatorConfiguration(
            caCertificatePath: caPath,
            accounts: [
                .init(accountId: anchorsId, accountKeys: [accountKey], accountDomain: "eastus2.mixedreality.azure.com"),
                .init(accountId: renderingId, accountKeys: [Self.secret()], accountDomain: "westeurope.mixedreality.azure.com"),
            ],
            applications: [.init(tenantId: tenantId, clientId: clientId, clientSecrets: [clientSecret])],
            stsTokenLifetimeSeconds: tokenLifetime
        )
        let quiet = Logger(label: "emulator", factory: { _ in SwiftLogNoOpLogHandler() })
        try await STSEmulator.withRunning(configuration: emulatorConfiguration, logger: quiet) { emulator in
            let url = try await emulator.waitUntilRunning().absoluteString
            let configPath = root.appending(path: "config.yaml").path
            let yaml = """
                # Written by `mr-token-sidecar demo`. Edit it while the demo runs: it is reloaded.
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
            try Data(yaml.utf8).write(to: URL(filePath: configPath), options: .atomic)
            let environment = ProcessInfo.processInfo.environment
            let configuration = try ConfigLoader.load(path: configPath, environment: environment)
            let (logger, box) = makeLogger(configuration.log)
            let app = try SidecarApp.build(
                configuration: configuration, configPath: configPath, environment: environment, logger: logger,
                levelBox: box,
                onListening: { port in
                    FileHandleWriter.standardOutput(
                        """

                        mr-token-sidecar demo: STS emulator at \(url), \(tokenLifetime)-second tokens.
                          tokens:  \(root.path)/anchors.token, \(root.path)/rendering.json
                          config:  \(configPath)  (edit it: it reloads)
                          probes:  http://127.0.0.1:\(port)/status  /readyz  /metrics
                          Ctrl-C stops the demo; the token files stay.


                        """)
                })
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await app.run()
                    return true
                }
                if let duration {
                    group.addTask {
                        try await Task.sleep(for: .seconds(duration))
                        kill(getpid(), SIGTERM)  // the same graceful path as Ctrl-C
                        return false
                    }
                }
                while let appFinished = try await group.next(), !appFinished {}
                group.cancelAll()
            }
        }
    }

    static func secret() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }
}
