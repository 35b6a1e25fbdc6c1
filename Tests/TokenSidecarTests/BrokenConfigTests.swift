import Foundation
import TestSupport
import Testing

@Suite("Broken configs: rejected with their key path, exit 2, no output touched")
struct BrokenConfigTests {
    static let base = """
        accounts:
          - name: anchors
            accountId: 68321d5a-7978-4ceb-b880-0f49751daae9
            accountDomain: eastus2.mixedreality.azure.com
            credential:
              type: accountKey
              keyFile: /etc/mr/anchors/key
            output:
              path: OUTPUT
              mode: "0440"
        refresh:
          at: 0.5
          minBackoff: 1s
          maxBackoff: 5m
        server:
          address: 127.0.0.1:0
        log:
          level: info

        """

    static let secondAccount = """
          - name: second
            accountId: 68321d5a-7978-4ceb-b880-0f49751daae9
            accountDomain: eastus2.mixedreality.azure.com
            credential: {type: accountKey, keyFile: /etc/mr/anchors/key}
            output: {path: OUTPUT2}
        refresh:
        """

    /// (what is broken, the edit, the key path the error must name)
    static let cases: [(String, @Sendable (String) -> String, String)] = [
        (
            "no accounts", { "accounts: []\nrefresh:" + $0.components(separatedBy: "\nrefresh:")[1] },
            "accounts: give at least one account"
        ),
        (
            "accounts missing", { "refresh:" + $0.components(separatedBy: "\nrefresh:")[1] },
            "accounts: missing required key"
        ),
        ("bad name", { $0.replacingOccurrences(of: "name: anchors", with: "name: Anchors!") }, "accounts[0].name:"),
        (
            "duplicate name",
            {
                $0.replacingOccurrences(
                    of: "refresh:\n",
                    with: secondAccount.replacingOccurrences(of: "name: second", with: "name: anchors") + "\n")
            }, "accounts[1].name:"
        ),
        (
            "account id",
            {
                $0.replacingOccurrences(
                    of: "accountId: 68321d5a-7978-4ceb-b880-0f49751daae9", with: "accountId: my-account")
            }, "accounts[0].accountId:"
        ),
        (
            "empty domain",
            {
                $0.replacingOccurrences(
                    of: "accountDomain: eastus2.mixedreality.azure.com", with: "accountDomain: \"\"")
            }, "accounts[0].accountDomain:"
        ),
        (
            "http endpoint",
            {
                $0.replacingOccurrences(
                    of: "    credential:\n      type",
                    with: "    endpoint: http://sts.example\n    credential:\n      type")
            }, "accounts[0].endpoint:"
        ),
        (
            "credential type", { $0.replacingOccurrences(of: "type: accountKey", with: "type: password") },
            "accounts[0].credential.type:"
        ),
        (
            "no key file", { $0.replacingOccurrences(of: "      keyFile: /etc/mr/anchors/key\n", with: "") },
            "accounts[0].credential.keyFile: required for type accountKey"
        ),
        (
            "relative key file",
            { $0.replacingOccurrences(of: "keyFile: /etc/mr/anchors/key", with: "keyFile: key.txt") },
            "accounts[0].credential.keyFile:"
        ),
        (
            "key for another type",
            {
                $0.replacingOccurrences(
                    of: "      keyFile: /etc/mr/anchors/key\n", with: "      keyFile: /k\n      secretFile: /s\n")
            }, "accounts[0].credential.secretFile: is not used by type accountKey"
        ),
        (
            "relative output", { $0.replacingOccurrences(of: "path: OUTPUT", with: "path: anchors.token") },
            "accounts[0].output.path:"
        ),
        (
            "mode as a number", { $0.replacingOccurrences(of: "mode: \"0440\"", with: "mode: 0440") },
            "accounts[0].output.mode: 0440 is a number"
        ),
        (
            "mode without leading zero", { $0.replacingOccurrences(of: "mode: \"0440\"", with: "mode: \"440\"") },
            "accounts[0].output.mode: \"440\" must be an octal string like \"0440\""
        ),
        (
            "output format",
            { $0.replacingOccurrences(of: "      mode: \"0440\"", with: "      mode: \"0440\"\n      format: yaml") },
            "accounts[0].output.format:"
        ),
        (
            "shared output",
            {
                $0.replacingOccurrences(
                    of: "refresh:\n", with: secondAccount.replacingOccurrences(of: "OUTPUT2", with: "OUTPUT") + "\n")
            }, "accounts[1].output.path: is also the output of accounts[0]"
        ),
        (
            "unknown key",
            { $0.replacingOccurrences(of: "    accountDomain:", with: "    colour: blue\n    accountDomain:") },
            "accounts[0].colour: unknown key"
        ),
        ("refresh point", { $0.replacingOccurrences(of: "at: 0.5", with: "at: 1.5") }, "refresh.at:"),
        (
            "duration without unit", { $0.replacingOccurrences(of: "minBackoff: 1s", with: "minBackoff: 5") },
            "refresh.minBackoff: 5 needs a unit"
        ),
        (
            "backoff order", { $0.replacingOccurrences(of: "maxBackoff: 5m", with: "maxBackoff: 500ms") },
            "refresh.maxBackoff:"
        ),
        (
            "server address", { $0.replacingOccurrences(of: "address: 127.0.0.1:0", with: "address: everywhere") },
            "server.address:"
        ),
        ("log level", { $0.replacingOccurrences(of: "level: info", with: "level: verbose") }, "log.level:"),
        ("YAML syntax", { $0.replacingOccurrences(of: "mode: \"0440\"", with: "mode: [\"0440\"") }, "YAML syntax"),
        (
            "signal name",
            {
                $0.replacingOccurrences(
                    of: "      mode: \"0440\"\n",
                    with: "      mode: \"0440\"\n    notify:\n      signal: {pidFile: /shared/app.pid, name: SIGKILL}\n"
                )
            }, "accounts[0].notify.signal.name:"
        ),
        ("missing CA file", { $0 + "tls:\n  caFile: /nonexistent/ca.pem\n" }, "tls.caFile:"),
        (
            "workload identity without tenant",
            {
                $0.replacingOccurrences(
                    of: "type: accountKey\n      keyFile: /etc/mr/anchors/key",
                    with: "type: workloadIdentity\n      clientId: c\n      tokenFile: /t")
            }, "accounts[0].credential.tenantId: required for type workloadIdentity (or set AZURE_TENANT_ID)"
        ),
    ]

    @Test("there are at least twenty")
    func count() { #expect(Self.cases.count >= 20) }

    @Test(
        "each is rejected by validate and by run, exit 2, naming its key path; the output file is untouched",
        arguments: 0..<26)
    func rejected(index: Int) async throws {
        let (what, edit, expected) = Self.cases[index]
        try await withTemporaryDirectory { directory in
            let output = directory.appendingPathComponent("anchors.token").path
            let sentinel = "previous token, must stay"
            try sentinel.write(toFile: output, atomically: true, encoding: .utf8)
            let config = directory.appendingPathComponent("config.yaml").path
            let text = edit(Self.base).replacingOccurrences(
                of: "OUTPUT2", with: directory.appendingPathComponent("second.token").path
            )
            .replacingOccurrences(of: "OUTPUT", with: output)
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            for arguments in [
                ["validate", "--config", config], ["run", "--config", config], ["run", "--once", "--config", config],
            ] {
                let child = try ChildProcess.start(
                    executable: "mr-token-sidecar", arguments: arguments, environment: [:])
                #expect(await child.exitStatus() == 2, "\(what): \(arguments[0])")
                #expect(child.standardError.contains(expected), "\(what): \(child.standardError)")
                #expect(child.standardError.contains(config))
            }
            #expect(try String(contentsOfFile: output, encoding: .utf8) == sentinel, "\(what)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            #expect(leftovers == ["anchors.token", "config.yaml"], "\(what)")
        }
    }

    @Test("validate accepts a good config and says so; a usage error is exit 2")
    func validateGood() async throws {
        try await withTemporaryDirectory { directory in
            let config = directory.appendingPathComponent("config.yaml").path
            try Self.base.replacingOccurrences(of: "OUTPUT", with: "/tmp/x.token").write(
                toFile: config, atomically: true, encoding: .utf8)
            let child = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["validate", "--config", config], environment: [:])
            #expect(await child.exitStatus() == 0)
            #expect(child.standardOutput.contains("valid, 1 account(s)"))
            let usage = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["run", "--no-such-flag"], environment: [:])
            #expect(await usage.exitStatus() == 2)
            let help = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["help", "run"], environment: [:])
            #expect(await help.exitStatus() == 0)
            #expect(help.standardOutput.contains("--once"))
        }
    }
}
