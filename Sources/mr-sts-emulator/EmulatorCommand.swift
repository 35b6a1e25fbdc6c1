import ArgumentParser
import AzureCore
import Logging
import STSEmulator
import ServiceLifecycle
import UnixSignals

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mr-sts-emulator",
        abstract: "An emulator of the Mixed Reality STS, Entra ID and managed identity endpoints, for tests and demos.",
        discussion: """
            Serves over HTTPS on a loopback address with a throwaway CA made at start; give \
            --ca-out to write the CA certificate where clients can trust it.

            Endpoints:
              GET  /Accounts/{accountId}/token?api-version=2019-02-28-preview   Mixed Reality STS
              POST /{tenant}/oauth2/v2.0/token                                 Entra ID v2 (client credentials)
              GET  /metadata/identity/oauth2/token?api-version=2018-02-01      IMDS managed identity
              GET  /msi/token?api-version=2019-08-01                           App Service managed identity
              GET  /healthz

            Admin endpoints (loopback, for tests and demos):
              GET|DELETE /admin/requests          request log (credentials redacted)
              GET|POST|DELETE /admin/faults       queue faults for the next answers, e.g.
                  {"endpoint": "sts", "count": 3, "status": 503, "retryAfter": "1"}
                  keys: endpoint (sts|entra|managedIdentity|any), count, status, retryAfter,
                  delayMs, body, token (expired|notJWT|farFuture|shortLived), dropConnection, aadstsCode
              POST /admin/service-account-token   {"subject": "system:serviceaccount:ns:sa"} mints a
                                                  workload identity token the Entra endpoint accepts
              GET  /admin/ca.pem                  the CA certificate
              POST /admin/echo                    records the request (a webhook catcher), answers 204

            Once listening it prints one JSON line on standard output:
              {"url": "https://127.0.0.1:PORT", "port": PORT, "caCertificatePath": ...}

            The --config file is JSON with the keys host, port, plainHTTP, caCertificatePath,
            accounts [{accountId, accountKeys, accountDomain, allowedClientIds}],
            applications [{tenantId, clientId, clientSecrets, certificatesPEM,
            federatedCredentials [{issuer, subject, audiences}]}],
            managedIdentities [{clientId, objectId, resourceId, systemAssigned}], identityHeader,
            stsTokenLifetimeSeconds, entraTokenLifetimeSeconds, managedIdentityTokenLifetimeSeconds,
            federatedIssuer. Flags override the file.
            """,
        version: ReleaseVersion.current,
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the emulator until SIGTERM or SIGINT (default).")

    @Option(help: "A JSON configuration file (see mr-sts-emulator --help).")
    var config: String?

    @Option(help: "The loopback address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "The port to listen on; 0 picks a free one (default 0).")
    var port: Int?

    @Option(name: .customLong("ca-out"), help: "Where to write the throwaway CA certificate (PEM).")
    var caOut: String?

    @Flag(help: "Serve plain HTTP instead of HTTPS (clients must opt in to plain HTTP on loopback).")
    var plainHTTP = false

    @Option(
        name: .customLong("account"),
        help: "A Mixed Reality account as ACCOUNT_ID:KEY; repeat for more. Test keys only: they show in ps.")
    var accounts: [String] = []

    @Option(
        name: .customLong("app"),
        help: "An Entra application with a client secret as TENANT_ID:CLIENT_ID:SECRET; repeat for more.")
    var apps: [String] = []

    @Option(name: .customLong("managed-identity"), help: "A user-assigned managed identity client id; repeat for more.")
    var managedIdentities: [String] = []

    @Option(help: "Lifetime of Mixed Reality tokens in seconds (default 86400).")
    var stsTokenLifetime: Int?

    @Option(help: "Lifetime of Entra tokens in seconds (default 3600).")
    var entraTokenLifetime: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level: \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
        }
        for account in accounts where account.split(separator: ":", maxSplits: 1).count != 2 {
            throw ValidationError("--account: expected ACCOUNT_ID:KEY")
        }
        for app in apps where app.split(separator: ":", maxSplits: 2).count != 3 {
            throw ValidationError("--app: expected TENANT_ID:CLIENT_ID:SECRET")
        }
    }

    func makeConfiguration() throws -> EmulatorConfiguration {
        var configuration = EmulatorConfiguration()
        if let config {
            do {
                let data = try Data(contentsOf: URL(filePath: config))
                configuration = try JSONDecoder().decode(EmulatorConfiguration.self, from: data)
            } catch {
                throw ValidationError("--config \(config): cannot read it as emulator JSON: \(error)")
            }
        }
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let caOut { configuration.caCertificatePath = caOut }
        if plainHTTP { configuration.plainHTTP = true }
        for account in accounts {
            let parts = account.split(separator: ":", maxSplits: 1).map(String.init)
            configuration.accounts.append(.init(accountId: parts[0], accountKeys: [parts[1]]))
        }
        for app in apps {
            let parts = app.split(separator: ":", maxSplits: 2).map(String.init)
            configuration.applications.append(.init(tenantId: parts[0], clientId: parts[1], clientSecrets: [parts[2]]))
        }
        for clientId in managedIdentities {
            configuration.managedIdentities.append(.init(clientId: clientId))
        }
        if let stsTokenLifetime { configuration.stsTokenLifetimeSeconds = stsTokenLifetime }
        if let entraTokenLifetime { configuration.entraTokenLifetimeSeconds = entraTokenLifetime }
        do {
            try configuration.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return configuration
    }

    func run() async throws {
        var logger = Logger(label: "mr-sts-emulator", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let configuration = try makeConfiguration()
        let emulator = try STSEmulator(configuration: configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [emulator], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let url = try await emulator.waitUntilRunning()
            struct Ready: Encodable {
                var url: String
                var port: Int
                var caCertificatePath: String?
            }
            let line = JSON.encode(
                Ready(url: url.absoluteString, port: url.port ?? 0, caCertificatePath: configuration.caCertificatePath))
            print(String(decoding: line, as: UTF8.self))
            fflush(nil)
            try await tasks.waitForAll()
        }
    }
}
