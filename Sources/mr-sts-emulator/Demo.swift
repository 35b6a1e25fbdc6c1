import ArgumentParser
import AzureCore
import AzureIdentity
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import MixedRealityAuthentication
import STSEmulator

/// Starts the emulator in-process and fetches Mixed Reality tokens from it with the Swift client,
/// once with an account key and once with an Entra ID client secret, printing what happened (never a
/// token or key).
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the emulator in-process and fetch Mixed Reality tokens from it over HTTPS.")

    @Option(help: "Lifetime of the Mixed Reality tokens the emulator issues, in seconds.")
    var tokenLifetime: Int = 86400

    func run() async throws {
        var logger = Logger(label: "demo", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        let directory = URL(filePath: ".build-demo", directoryHint: .isDirectory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let caPath = directory.appending(path: "emulator-ca.pem").path
        let accountId = UUID().uuidString.lowercased()
        let accountKey = Self.randomSecret()
        let tenantId = UUID().uuidString.lowercased()
        let clientId = UUID().uuidString.lowercased()
        let clientSecret = Self.randomSecret()
        let configuration = EmulatorConfiguration(
            caCertificatePath: caPath,
            accounts: [.init(accountId: accountId, accountKeys: [accountKey], accountDomain: "eastus2.mixedreality.azure.com")],
            applications: [.init(tenantId: tenantId, clientId: clientId, clientSecrets: [clientSecret])],
            stsTokenLifetimeSeconds: tokenLifetime
        )
        try await STSEmulator.withRunning(configuration: configuration, logger: logger) { emulator in
            let url = try await emulator.waitUntilRunning()
            print("mr-sts-emulator is listening on \(url.absoluteString) (CA certificate: \(caPath))")
            var options = MixedRealityStsClientOptions(customEndpointURL: url.absoluteString)
            options.pipeline.additionalTrustedCAFile = caPath

            let keyClient = try MixedRealityStsClient(
                accountId: accountId, accountDomain: "eastus2.mixedreality.azure.com",
                credential: try AzureKeyCredential(accountKey), options: options)
            let started = ContinuousClock.now
            let viaKey = try await keyClient.getTokenResponse(logger: logger)
            Self.report("account key", viaKey, elapsed: ContinuousClock.now - started)

            let entra = try ClientSecretCredential(
                tenantId: tenantId, clientId: clientId, clientSecret: clientSecret,
                options: TokenCredentialOptions(authorityHost: url.absoluteString, pipeline: options.pipeline))
            let entraClient = try MixedRealityStsClient(
                accountId: accountId, accountDomain: "eastus2.mixedreality.azure.com", credential: entra, options: options)
            let entraStarted = ContinuousClock.now
            let viaEntra = try await entraClient.getTokenResponse(logger: logger)
            Self.report("an Entra ID client secret", viaEntra, elapsed: ContinuousClock.now - entraStarted)
            print("The emulator saw \(emulator.requests.count) requests; tokens and keys were never printed.")
        }
    }

    static func report(_ label: String, _ response: MixedRealityTokenResponse, elapsed: Duration) {
        let token = response.accessToken
        let lifetime = Int(token.expiresOn.timeIntervalSinceNow.rounded())
        print(
            """
            Mixed Reality token via \(label): \(token.token.count) bytes, expires \(token.expiresOn.formatted(.iso8601)) \
            (in \(lifetime) s), X-MRC-CV \(response.correlationVector ?? "-"), MS-CV \(response.msCV ?? "-"), \
            \(Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)) ms
            """)
    }

    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
    }
}
