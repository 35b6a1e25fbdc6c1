package import AzureCore
package import Foundation
package import InMemoryLogging
package import Logging
package import STSEmulator
package import ServiceLifecycle
package import Testing

/// Test identities made fresh for each test, so a secret found in a log can only have come from
/// this test's run.
package struct TestIdentities: Sendable {
    package let accountId = UUID().uuidString.lowercased()
    package let accountKey = "key-" + TestIdentities.randomSecret()
    package let tenantId = UUID().uuidString.lowercased()
    package let clientId = UUID().uuidString.lowercased()
    package let clientSecret = "secret-" + TestIdentities.randomSecret()
    package let accountDomain = "westeurope.mixedreality.azure.com"

    package init() {}

    package static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(
            (0..<40).map { _ in
                Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")[
                    Int(generator.next(upperBound: UInt8(62)))]
            })
    }

    /// The secrets a log must never contain.
    package var secrets: [String] { [accountKey, clientSecret] }

    /// An emulator configuration serving these identities.
    package func emulatorConfiguration(caPath: String, stsLifetime: Int = 86400) -> EmulatorConfiguration {
        EmulatorConfiguration(
            caCertificatePath: caPath,
            accounts: [.init(accountId: accountId, accountKeys: [accountKey], accountDomain: accountDomain)],
            applications: [.init(tenantId: tenantId, clientId: clientId, clientSecrets: [clientSecret])],
            managedIdentities: [.init(clientId: UUID().uuidString.lowercased(), systemAssigned: true)],
            stsTokenLifetimeSeconds: stsLifetime
        )
    }
}

/// A fresh temporary directory, removed at the end of `body`.
package func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mr-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

/// A running emulator with its CA written to a temporary file.
package struct EmulatorFixture: Sendable {
    package let emulator: STSEmulator
    package let baseURL: URL
    package let caFile: String
    package let identities: TestIdentities

    /// Pipeline options that trust the emulator, with fast retries.
    package var pipelineOptions: HTTPPipelineOptions {
        HTTPPipelineOptions(
            retry: RetryOptions(initialDelay: .milliseconds(20), maxDelay: .milliseconds(200)),
            perTryTimeout: .seconds(10),
            additionalTrustedCAFile: caFile
        )
    }
}

/// Runs `body` with an emulator serving fresh identities over HTTPS on 127.0.0.1, port 0.
package func withEmulator<T>(
    identities: TestIdentities = TestIdentities(),
    logger: Logger = Logger(label: "emulator", factory: { _ in SwiftLogNoOpLogHandler() }),
    configure: (inout EmulatorConfiguration) -> Void = { _ in },
    _ body: (EmulatorFixture) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let caFile = directory.appendingPathComponent("ca.pem").path
        var configuration = identities.emulatorConfiguration(caPath: caFile)
        configure(&configuration)
        return try await STSEmulator.withRunning(configuration: configuration, logger: logger) { emulator in
            let url = try await emulator.waitUntilRunning()
            return try await body(
                EmulatorFixture(emulator: emulator, baseURL: url, caFile: caFile, identities: identities))
        }
    }
}

/// A logger at trace level whose every line is kept, and the check that none holds a secret.
package struct LogCapture: Sendable {
    package let handler = InMemoryLogHandler()

    package init() {}

    package func logger(_ label: String = "test") -> Logger {
        var logger = Logger(label: label, factory: { [handler] _ in handler })
        logger.logLevel = .trace
        return logger
    }

    /// Every line as text: level, message and metadata.
    package var text: String {
        handler.entries.map { entry in
            "\(entry.level) \(entry.message) \(entry.metadata.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))"
                + (entry.error.map { " error=\($0)" } ?? "")
        }.joined(separator: "\n")
    }

    /// Whether a line at `level` has a message containing `text`.
    package func contains(level: Logger.Level, message text: String) -> Bool {
        handler.entries.contains { $0.level == level && "\($0.message)".contains(text) }
    }

    /// The secrets that appear in the captured lines.
    package func leaked(_ secrets: [String]) -> [String] {
        let text = self.text
        return secrets.filter { !$0.isEmpty && text.contains($0) }
    }
}

/// Runs `service` while `body` runs, then shuts it down gracefully (as SIGTERM would) and waits
/// for it to finish: a test sees the service's real shutdown path, never a cancellation.
package func withService<T>(_ service: some Service, _ body: () async throws -> T) async throws -> T {
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: [service], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result<T, any Error>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// Expects none of `secrets` in `text`. A failing `#expect(!text.contains(secret))` prints its
/// operands, the secret and the text holding it, into the test output; this one names only which
/// of the secrets (by position) were found, and where.
/// - Parameters:
///   - secrets: The values that must not appear (empty ones are skipped).
///   - text: The logs, message or answer to search.
///   - what: What `text` is, for the failure ("the logs", "the error").
package func expectNoSecret(
    _ secrets: [String], in text: String, _ what: String = "the output",
    sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    let found = secrets.indices.filter { !secrets[$0].isEmpty && text.contains(secrets[$0]) }
    let none = found.isEmpty
    #expect(none, "secrets \(found) (by position) in \(what)", sourceLocation: sourceLocation)
}
