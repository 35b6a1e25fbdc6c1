import Foundation
import STSEmulator
import TestSupport
import Testing

/// An account as a test writes it into the sidecar's config.
struct TestAccount {
    var name: String
    var accountId: String
    var key: String?
    var format = "token"
    var mode = "0440"
    var extra = ""
    var credential: String?
    /// The key file's name without `.key`; default: the account's name.
    var keyName: String?
    /// The output file; default: `out/<name>.<format>` in the harness's folder.
    var outputPath: String?
    /// The STS endpoint; default: the emulator's; empty: none (the account's domain names the
    /// STS, one of Azure's own hosts).
    var endpoint: String?
}

/// A temporary folder with key files, a config and outputs, and the sidecar run as a child
/// process against the in-process emulator.
struct SidecarHarness {
    /// The environment of the sidecar processes, the operator's part: the emulator's loopback
    /// address is allowed to receive secrets (the config file cannot allow it), and the backoff
    /// may be as short as the tests' rotations need (the file cannot go under 1 s).
    static let environment = [
        "MR_TOKEN_SIDECAR_ALLOWED_HOSTS": "127.0.0.1", "MR_TOKEN_SIDECAR_MIN_BACKOFF_FLOOR": "1ms",
    ]

    let fixture: EmulatorFixture
    let directory: URL
    var configPath: String { directory.appendingPathComponent("config.yaml").path }

    func output(_ name: String, _ format: String = "token") -> String {
        directory.appendingPathComponent("out/\(name).\(format == "token" ? "token" : format)").path
    }

    /// `count` accounts named `prefix-0`... with the emulator's account and key.
    func accounts(_ count: Int, prefix: String) -> [TestAccount] {
        (0..<count).map { index in
            TestAccount(
                name: "\(prefix)-\(index)", accountId: fixture.identities.accountId, key: fixture.identities.accountKey)
        }
    }

    var defaultAccount: TestAccount {
        TestAccount(name: "anchors", accountId: fixture.identities.accountId, key: fixture.identities.accountKey)
    }

    /// Writes the config (and key files) for these accounts; with `tls`, the config's `tls.caFile`
    /// is the emulator's CA.
    func writeConfig(
        _ accounts: [TestAccount], refresh: String = "", backoff: (min: String, max: String) = ("100ms", "2s"),
        extra: String = "", logLevel: String = "trace", tls: Bool = true
    ) throws {
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("out"), withIntermediateDirectories: true)
        var yaml = "accounts:\n"
        for account in accounts {
            var credential = account.credential ?? ""
            if let key = account.key {
                let keyFile = directory.appendingPathComponent("\(account.keyName ?? account.name).key").path
                try key.write(toFile: keyFile, atomically: true, encoding: .utf8)
                credential = "type: accountKey\n      keyFile: \(keyFile)"
            }
            yaml += """
                  - name: \(account.name)
                    accountId: \(account.accountId)
                    accountDomain: \(fixture.identities.accountDomain)
                    \(account.endpoint == "" ? "" : "endpoint: \(account.endpoint ?? fixture.baseURL.absoluteString)")
                    credential:
                      \(credential)
                    output:
                      path: \(account.outputPath ?? output(account.name, account.format))
                      format: \(account.format)
                      mode: "\(account.mode)"
                \(account.extra)

                """
        }
        yaml += """
            refresh:
              minBackoff: \(backoff.min)
              maxBackoff: \(backoff.max)
            \(refresh)
            \(tls ? "tls:\n  caFile: \(fixture.caFile)" : "")
            server:
              address: 127.0.0.1:0
              readyMinValidity: 1s
            log:
              level: \(logLevel)
            \(extra)

            """
        try yaml.write(toFile: configPath + ".tmp", atomically: false, encoding: .utf8)
        try FileManager.default.moveItem(atPath: configPath + ".tmp", toPath: configPath)
    }

    func replaceConfig(_ accounts: [TestAccount], refresh: String = "") throws {
        try FileManager.default.removeItem(atPath: configPath)
        try writeConfig(accounts, refresh: refresh)
    }

    /// Starts the sidecar with this config; `environment` adds to the harness's.
    func start(_ arguments: [String] = ["run"], environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess.start(
            executable: "mr-token-sidecar", arguments: arguments + ["--config", configPath],
            environment: Self.environment.merging(environment) { $1 })
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// The probe server's port, from the sidecar's log line.
    func probePort(_ child: ChildProcess) async -> Int? {
        await child.listeningPort("probe server listening")
    }

    /// The STS requests the emulator saw for an account.
    func stsRequests(_ accountId: String) -> [RecordedRequest] {
        fixture.emulator.requests.filter { $0.endpoint == .sts && $0.path.contains(accountId) }
    }

    /// An account authenticating with the emulator's client secret, written to a file of the
    /// harness's folder, its Entra ID requests sent to `authorityHost` (`nil`: the public cloud's).
    func clientSecretAccount(name: String = "entra", authorityHost: String? = nil) throws -> TestAccount {
        let identities = fixture.identities
        let secretFile = directory.appending(path: "\(name).secret").path
        try identities.clientSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        let lines =
            [
                "type: clientSecret", "tenantId: \(identities.tenantId)", "clientId: \(identities.clientId)",
                "secretFile: \(secretFile)",
            ] + (authorityHost.map { ["authorityHost: \($0)"] } ?? [])
        return TestAccount(name: name, accountId: identities.accountId, credential: lines.joined(separator: "\n      "))
    }

    /// Every secret this harness knows, for log scans.
    func secrets(extra: [String] = []) -> [String] {
        var values = fixture.identities.secrets + extra
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("out").path))
            ?? []
        {
            if let text = read(directory.appendingPathComponent("out/\(file)").path) {
                values += text.split(whereSeparator: { "\n\"=".contains($0) }).map(String.init).filter {
                    $0.split(separator: ".").count == 3 && $0.count > 100
                }
            }
        }
        return values
    }
}

/// Runs `body` with an emulator and a harness around a fresh folder.
func withSidecar(
    stsLifetime: Int = 86400, configure: (inout EmulatorConfiguration) -> Void = { _ in },
    _ body: (SidecarHarness) async throws -> Void
) async throws {
    try await withEmulator(configure: {
        $0.stsTokenLifetimeSeconds = stsLifetime
        configure(&$0)
    }) { fixture in
        try await withTemporaryDirectory { directory in
            try await body(SidecarHarness(fixture: fixture, directory: directory))
        }
    }
}

/// Asserts the child's logs hold none of the secrets.
func expectNoSecrets(_ child: ChildProcess, _ secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    expectNoSecret(secrets, in: child.standardError + child.standardOutput, "the logs", sourceLocation: sourceLocation)
}
