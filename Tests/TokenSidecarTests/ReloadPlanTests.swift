import Foundation
import SidecarConfig
import Testing
import TokenSidecar

@Suite("Reload plan (pure)")
struct ReloadPlanTests {
    func config(
        _ accounts: [(name: String, keyFile: String)], extra: String = "", format: String = "token"
    ) throws
        -> SidecarConfiguration
    {
        var yaml = "accounts:\n"
        for (index, account) in accounts.enumerated() {
            yaml += """
                  - name: \(account.name)
                    accountId: 6a8b0c3e-1111-4222-8333-94445555\(String(format: "%04d", index))
                    accountDomain: eastus2.mixedreality.azure.com
                    credential: {type: accountKey, keyFile: \(account.keyFile)}
                    output: {path: /var/run/mixedreality/\(account.name).token, format: \(account.name == "c" ? format : "token")}

                """
        }
        // The operator opened the STS host, so that the file's tls section may apply to it.
        return try ConfigLoader.parse(
            yaml + extra, file: "c.yaml", environment: [:],
            flags: .init(allowedHosts: ["sts.eastus2.mixedreality.azure.com"]))
    }

    @Test("only the accounts that changed restart; removed ones go, new ones start, the rest keep running")
    func accountDiff() throws {
        let old = try config([("a", "/k/a"), ("b", "/k/b"), ("c", "/k/c")])
        let new = try config([("a", "/k/a"), ("c", "/k/c"), ("d", "/k/d")], format: "json")
        let plan = ReloadPlan.diff(from: old, to: new, running: ["a", "b", "c"])
        #expect(plan.stop == ["b", "c"])
        #expect(plan.removed == ["b"])
        #expect(plan.start == ["c", "d"])
        #expect(plan.added == 1)
        #expect(plan.changed == 1)
        #expect(plan.unchanged == 1)
        #expect(plan.restartOnly.isEmpty)
        #expect(plan.destinationChanges.isEmpty)
    }

    @Test(
        "a change of where secrets go is named, so that the reload is refused: secret files, endpoints, CA bundle, system roots"
    )
    func destinationChanges() throws {
        let old = try config([("a", "/k/a"), ("b", "/k/b")])
        let keyFile = try config([("a", "/var/run/secrets/kubernetes.io/serviceaccount/token"), ("b", "/k/b")])
        #expect(
            ReloadPlan.diff(from: old, to: keyFile, running: ["a", "b"]).destinationChanges == ["a.credential.keyFile"])
        let caFile = try config([("a", "/k/a"), ("b", "/k/b")], extra: "tls: {caFile: /etc/hostname}\n")
        #expect(ReloadPlan.diff(from: old, to: caFile, running: ["a", "b"]).destinationChanges == ["tls.caFile"])
        let pinned = try config(
            [("a", "/k/a"), ("b", "/k/b")], extra: "tls: {caFile: /etc/hostname, systemRoots: false}\n")
        #expect(
            ReloadPlan.diff(from: pinned, to: caFile, running: ["a", "b"]).destinationChanges == ["tls.systemRoots"])
        // A new account sending its key to Azure's STS reaches Microsoft only: it is started.
        let added = try config([("a", "/k/a"), ("b", "/k/b"), ("c", "/k/c")])
        #expect(ReloadPlan.diff(from: old, to: added, running: ["a", "b"]).destinationChanges.isEmpty)
    }

    @Test("a new or renamed account may not send a secret file to a host outside Azure that did not get it before")
    func newRoutes() throws {
        func custom(_ accounts: [(name: String, keyFile: String)]) throws -> SidecarConfiguration {
            var configuration = try config(accounts)
            for index in configuration.accounts.indices {
                configuration.accounts[index].endpoint = "https://sts.private.example"
            }
            return configuration
        }
        let old = try custom([("a", "/k/a")])
        // Renamed, pointing its key file at the service-account token: refused.
        let renamed = try custom([("b", "/var/run/secrets/kubernetes.io/serviceaccount/token")])
        #expect(
            ReloadPlan.diff(from: old, to: renamed, running: ["a"]).destinationChanges == [
                "b (new) sends /var/run/secrets/kubernetes.io/serviceaccount/token to sts.private.example"
            ])
        // Renamed with the same file: the same way out, started.
        let same = try custom([("b", "/k/a")])
        #expect(ReloadPlan.diff(from: old, to: same, running: ["a"]).destinationChanges.isEmpty)
    }

    @Test("a change of refresh or tls restarts every account; server and maxConcurrent wait for a restart")
    func globalChanges() throws {
        let accounts = [("a", "/k/a"), ("b", "/k/b")]
        let old = try config(accounts)
        let refresh = try config(accounts, extra: "refresh: {at: 0.6}\n")
        #expect(ReloadPlan.diff(from: old, to: refresh, running: ["a", "b"]).start == ["a", "b"])
        let server = try config(accounts, extra: "server: {address: \"127.0.0.1:9000\"}\n")
        let plan = ReloadPlan.diff(from: old, to: server, running: ["a", "b"])
        #expect(plan.stop.isEmpty && plan.start.isEmpty)
        #expect(plan.restartOnly == ["server"])
        let concurrency = try config(accounts, extra: "refresh: {maxConcurrent: 2}\n")
        #expect(
            ReloadPlan.diff(from: old, to: concurrency, running: ["a", "b"]).restartOnly == ["refresh.maxConcurrent"])
    }

    @Test("an account that could not be set up is started again on the next reload")
    func notRunning() throws {
        let old = try config([("a", "/k/a"), ("b", "/k/b")])
        let plan = ReloadPlan.diff(from: old, to: old, running: ["a"])
        #expect(plan.start == ["b"])
        #expect(plan.stop.isEmpty)
        #expect(plan.unchanged == 1)
    }
}
