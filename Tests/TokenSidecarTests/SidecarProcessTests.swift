import Foundation
import MixedRealityAuthentication
import NIOHTTP1
import STSEmulator
import TestSupport
import Testing
import TokenSidecarTesting

@Suite("mr-token-sidecar as a child process against the emulator")
struct SidecarProcessTests {
    @Test("--once writes every format with the right content and mode, then exits 0")
    func onceWritesFormats() async throws {
        try await withSidecar { harness in
            let id = harness.fixture.identities.accountId
            let key = harness.fixture.identities.accountKey
            try harness.writeConfig([
                TestAccount(name: "plain", accountId: id, key: key, format: "token", mode: "0440"),
                TestAccount(name: "structured", accountId: id, key: key, format: "json", mode: "0600"),
                TestAccount(name: "shell", accountId: id, key: key, format: "env", mode: "0640"),
            ])
            let child = try harness.start(["run", "--once"])
            #expect(await child.exitStatus() == 0)
            let token = try #require(harness.read(harness.output("plain")))
            let claims = try JWTExpiry.claims(of: token)
            #expect(claims.accountId == id)
            #expect(!token.hasSuffix("\n"))
            let json = try #require(harness.read(harness.output("structured", "json")))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(
                Set(object.keys) == [
                    "accessToken", "expiresOn", "expiresOnTimestamp", "accountId", "accountDomain", "refreshedAt",
                ])
            let jsonToken = try #require(object["accessToken"] as? String)
            #expect(
                object["expiresOnTimestamp"] as? Int
                    == Int(try JWTExpiry.expiry(of: jsonToken).timeIntervalSince1970 * 1000))
            #expect((object["expiresOn"] as? String)?.hasSuffix("Z") == true)
            #expect(object["accountId"] as? String == id)
            let env = try #require(harness.read(harness.output("shell", "env")))
            let lines = env.split(separator: "\n")
            #expect(
                lines.count == 2 && lines[0].hasPrefix("MIXED_REALITY_ACCESS_TOKEN='ey") && lines[0].hasSuffix("'")
                    && lines[1].hasPrefix("MIXED_REALITY_TOKEN_EXPIRES_ON='20") && lines[1].hasSuffix("Z'"))
            // Sourced by a shell, it assigns the token and runs nothing.
            let shell = try ChildProcess.startSystem(
                "/bin/sh",
                [
                    "-c", "set -eu; . \"$1\"; printf %s \"$MIXED_REALITY_ACCESS_TOKEN\"", "sh",
                    harness.output("shell", "env"),
                ])
            #expect(await shell.exitStatus() == 0)
            #expect(try JWTExpiry.claims(of: shell.standardOutput).accountId == id)
            for (name, format, mode) in [
                ("plain", "token", 0o440), ("structured", "json", 0o600), ("shell", "env", 0o640),
            ] {
                let attributes = try FileManager.default.attributesOfItem(atPath: harness.output(name, format))
                #expect((attributes[.posixPermissions] as? Int) == mode, "\(name)")
            }
            #expect(harness.stsRequests(id).count == 3)
            expectNoSecrets(child, harness.secrets())
        }
    }

    @Test(
        "run's command line: every spelling of its options works (read without swift-argument-parser), anything else gets swift-argument-parser's answer"
    )
    func runCommandLine() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let config = harness.configPath
            func start(_ arguments: [String]) throws -> ChildProcess {
                try ChildProcess.start(
                    executable: "mr-token-sidecar", arguments: arguments, environment: SidecarHarness.environment)
            }
            let spellings: [[String]] = [
                ["run", "--once", "--config", config], ["--once", "-c", config],
                ["run", "--config=\(config)", "--once"],
                ["--once", "--config", "/nowhere.yaml", "--config", config],  // repeated: the last wins, as before
                [
                    "run", "--once", "--allowed-hosts", "127.0.0.1", "--termination-message-path",
                    harness.directory.appendingPathComponent("termination").path, "--config", config,
                ],
                [
                    "--once", "--ca-file=\(harness.fixture.caFile)", "--allowed-scopes",
                    "https://example.invalid/.default", "-c", config,
                ],
            ]
            for arguments in spellings {
                try? FileManager.default.removeItem(atPath: harness.output("anchors"))
                let child = try start(arguments)
                #expect(await child.exitStatus() == 0, "\(arguments): \(child.standardError)")
                #expect(harness.read(harness.output("anchors"))?.hasPrefix("ey") == true, "\(arguments)")
            }
            let refusals: [([String], String)] = [
                (["run", "--once", "--config"], "Missing value for '--config <config>'"),
                (["run", "--once", "--bogus", "--config", config], "Unknown option '--bogus'"),
                (["run", "--allowed-hosts", "a b", "--config", config], "--allowed-hosts: "),
                (["run", "--once=yes", "--config", config], "--once"),
                (["run", "--ca-file", "relative.pem", "--config", config], "--ca-file must be an absolute path"),
            ]
            for (arguments, message) in refusals {
                let child = try start(arguments)
                #expect(await child.exitStatus() == 2, "\(arguments)")
                #expect(child.standardError.contains(message), "\(arguments): \(child.standardError)")
            }
            let help = try start(["run", "--help"])
            #expect(await help.exitStatus() == 0)
            #expect(help.standardOutput.contains("--termination-message-path"))
            // RunCommand.quickParse sets every option of run: one it does not know would be read
            // unset (a crash). swift-argument-parser's own list of run's options must be this one;
            // an option added to RunCommand or ConfigOptions is added to quickParse and here.
            let dump = try start(["run", "--experimental-dump-help"])
            #expect(await dump.exitStatus() == 0)
            let command =
                try #require(
                    try JSONSerialization.jsonObject(with: Data(dump.standardOutput.utf8)) as? [String: Any])["command"]
                as? [String: Any]
            let names = ((command?["arguments"] as? [[String: Any]]) ?? []).flatMap {
                (($0["names"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
            }
            #expect(
                Set(names) == [
                    "config", "c", "config-env", "allowed-hosts", "ca-file", "allowed-scopes", "once",
                    "termination-message-path", "version", "h", "help",
                ], "\(names)")
        }
    }

    @Test(
        "the process runtime's choices, each named by a debug line: NIO's event loops on this Swift release and the tuned allocator; Swift's and glibc's defaults when MR_GLOBAL_EXECUTOR=dispatch and MR_MEMORY_TUNING=off ask, and the sidecar still works"
    )
    func processRuntimeLines() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount], logLevel: "debug")
            for (environment, expected) in [
                ([:], [#""mr.executor":"installed""#, #""mr.memory_tuning":true"#]),
                (
                    ["MR_GLOBAL_EXECUTOR": "dispatch", "MR_MEMORY_TUNING": "off"],
                    [#""mr.executor":"requestedDefault""#, #""mr.memory_tuning":false"#]
                ),
            ] as [([String: String], [String])] {
                try? FileManager.default.removeItem(atPath: harness.output("anchors"))
                let child = try harness.start(["run", "--once"], environment: environment)
                #expect(await child.exitStatus() == 0)
                for line in expected {
                    #expect(child.standardError.contains(line), "\(child.standardError.prefix(600))")
                }
                #expect(harness.read(harness.output("anchors")) != nil, "the token is written")
            }
        }
    }

    @Test("--once exits 1 naming the account that failed; the others are written")
    func onceFailure() async throws {
        try await withSidecar { harness in
            let id = harness.fixture.identities.accountId
            try harness.writeConfig([
                harness.defaultAccount,
                TestAccount(name: "wrong-key", accountId: id, key: "not-the-key"),
            ])
            let child = try harness.start(["run", "--once"])
            #expect(await child.exitStatus() == 1)
            #expect(child.standardError.contains("failed accounts: wrong-key"))
            #expect(harness.read(harness.output("anchors")) != nil)
            #expect(harness.read(harness.output("wrong-key")) == nil)
            expectNoSecrets(child, harness.secrets(extra: ["not-the-key"]))
        }
    }

    @Test("a restart with a valid file adopts it: no STS request")
    func restartAdopts() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let first = try harness.start(["run", "--once"])
            #expect(await first.exitStatus() == 0)
            let written = harness.read(harness.output("anchors"))
            let requests = harness.fixture.emulator.totalRequests
            let second = try harness.start()
            #expect(await second.waitForStandardError("adopted the valid token already on disk"))
            guard let port = await harness.probePort(second) else {
                Issue.record("no probe server")
                return
            }
            let ready = try await rawRequest(.GET, "http://127.0.0.1:\(port)/readyz", caFile: nil)
            #expect(ready.status == 200)
            second.signal(SIGTERM)
            #expect(await second.exitStatus() == 0)
            #expect(harness.fixture.emulator.totalRequests == requests)
            #expect(harness.read(harness.output("anchors")) == written)
            let once = try harness.start(["run", "--once"])
            #expect(await once.exitStatus() == 0)
            #expect(harness.fixture.emulator.totalRequests == requests, "--once adopts too")
        }
    }

    @Test("short-lived tokens are refreshed at the configured point of their lifetime")
    func refreshPoint() async throws {
        try await withSidecar(stsLifetime: 6) { harness in
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.5\n  jitter: 0.01")
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\"", count: 3, timeout: .seconds(30)))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            let times = harness.stsRequests(harness.fixture.identities.accountId).map(\.receivedAt)
            try #require(times.count >= 3)
            for (earlier, later) in zip(times, times.dropFirst()) {
                let gap = later.timeIntervalSince(earlier)
                // 0.5 ± 0.01 of 6 s, plus the whole seconds of iat and scheduling slack.
                #expect(gap >= 1.9 && gap <= 4.5, "gap \(gap)")
            }
            expectNoSecrets(child, harness.secrets())
        }
    }

    @Test("a 503 burst and a 429 with Retry-After are ridden out with the old file untouched")
    func faultsRiddenOut() async throws {
        // Refreshes every 6 s: the faults are queued right after the first token, long before the next.
        try await withSidecar(stsLifetime: 60) { harness in
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.1\n  jitter: 0")
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            let original = try #require(harness.read(harness.output("anchors")))
            let inode =
                try FileManager.default.attributesOfItem(atPath: harness.output("anchors"))[.systemFileNumber] as? Int
            harness.fixture.emulator.inject(Fault(endpoint: .sts, count: 4, status: 503))
            harness.fixture.emulator.inject(Fault(endpoint: .sts, count: 4, status: 429, retryAfter: "2"))
            #expect(await child.waitForStandardError("token refresh failed", count: 1, timeout: .seconds(60)))
            #expect(harness.read(harness.output("anchors")) == original, "untouched after the 503 burst")
            #expect(
                try FileManager.default.attributesOfItem(atPath: harness.output("anchors"))[.systemFileNumber] as? Int
                    == inode)
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\"", count: 2, timeout: .seconds(90)))
            #expect(harness.read(harness.output("anchors")) != original)
            let requests = harness.stsRequests(harness.fixture.identities.accountId)
            for (index, request) in requests.enumerated() where request.status == 429 && index + 1 < requests.count {
                #expect(
                    requests[index + 1].receivedAt.timeIntervalSince(request.receivedAt) >= 2.0, "Retry-After honoured")
            }
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets(extra: [original]))
        }
    }

    @Test("an expired, a non-JWT, a malformed and a shorter-lived answer are refused; the file keeps a good token")
    func badTokensRefused() async throws {
        try await withSidecar(stsLifetime: 600) { harness in
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.001\n  jitter: 0")
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            let good = try #require(harness.read(harness.output("anchors")))
            harness.fixture.emulator.inject(Fault(endpoint: .sts, token: .expired))
            harness.fixture.emulator.inject(Fault(endpoint: .sts, token: .notJWT))
            harness.fixture.emulator.inject(Fault(endpoint: .sts, body: "{\"AccessToken\": 42}"))
            // Refreshes come every ~0.6 s, so a good token may replace `good` between the faults:
            // what must hold is that the file only ever holds a valid token of this account that
            // expires no sooner than the first one.
            let goodExpiry = try JWTExpiry.expiry(of: good)
            func fileHoldsGoodToken() -> Bool {
                guard let text = harness.read(harness.output("anchors")), let claims = try? JWTExpiry.claims(of: text)
                else {
                    return false
                }
                return claims.accountId == harness.fixture.identities.accountId && claims.expiresOn >= goodExpiry
                    && claims.expiresOn > Date()
            }
            #expect(await child.waitForStandardError("\"mr.result\":\"bad_token\"", count: 1))
            #expect(fileHoldsGoodToken())
            #expect(await child.waitForStandardError("\"mr.result\":\"bad_response\"", count: 2))
            #expect(fileHoldsGoodToken())
            harness.fixture.emulator.inject(Fault(endpoint: .sts, token: .shortLived))
            #expect(await child.waitForStandardError("\"mr.result\":\"bad_token\"", count: 2))
            #expect(fileHoldsGoodToken())
            #expect(child.standardError.contains("expired at"))
            #expect(child.standardError.contains("before the one on disk"))
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\"", count: 2))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            #expect(
                harness.read(harness.output("anchors")).map { (try? JWTExpiry.expiry(of: $0)) ?? .distantPast }
                    ?? .distantPast > Date())
            expectNoSecrets(child, harness.secrets(extra: [good]))
        }
    }

    @Test(
        "a token planted in the shared folder cannot pin the sidecar: a week-long one is not adopted, and the STS's first token replaces an adopted one even when it expires sooner"
    )
    func plantedTokenReplaced() async throws {
        try await withSidecar(stsLifetime: 600) { harness in
            let id = harness.fixture.identities.accountId
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.5\n  jitter: 0")
            let path = harness.output("anchors")
            // What another container of the pod writes before the sidecar starts: this account's aid,
            // iat now, exp a week away (no signature is checked).
            let week = ScriptedTokenSource.token(accountId: id, issuedAt: Date(), lifetime: 7 * 86400)
            // And one with the STS's lifetime, past its refresh point, expiring in 11.5 hours: adopted
            // as a hint; the STS's 10-minute token replaces it.
            let day = ScriptedTokenSource.token(
                accountId: id, issuedAt: Date().addingTimeInterval(-45000), lifetime: 86400)
            for (planted, says) in [(week, "not the STS's 24 hours"), (day, "token refreshed")] {
                try planted.write(toFile: path, atomically: true, encoding: .utf8)
                let child = try harness.start(["run", "--once"])
                #expect(await child.exitStatus() == 0, "\(child.standardError.suffix(800))")
                #expect(child.standardError.contains(says), "\(child.standardError.suffix(800))")
                let written = try #require(harness.read(path))
                #expect(written != planted)
                let claims = try JWTExpiry.claims(of: written)
                #expect(claims.accountId == id)
                #expect(claims.expiresOn.timeIntervalSinceNow < 700, "the STS's token, not the planted one")
            }
        }
    }

    @Test("SIGHUP with a new account adds its file; the unchanged account keeps its schedule")
    func reloadAddsAccount() async throws {
        let second = UUID().uuidString.lowercased()
        // The emulator (127.0.0.1, a host outside Azure) already gets the key file from the running
        // config: a new account may send it there too.
        try await withSidecar(configure: {
            $0.accounts.append(.init(accountId: second, accountKeys: [$0.accounts[0].accountKeys[0]]))
        }) {
            harness in
            try harness.writeConfig([harness.defaultAccount])
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            let firstRequests = harness.stsRequests(harness.fixture.identities.accountId).count
            try harness.replaceConfig([
                harness.defaultAccount,
                TestAccount(
                    name: "second", accountId: second, key: harness.fixture.identities.accountKey, keyName: "anchors"),
            ])
            child.signal(SIGHUP)
            #expect(await child.waitForStandardError("configuration reloaded"))
            #expect(await child.waitForStandardError("\"mr.account\":\"second\""))
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\"", count: 2))
            #expect(harness.read(harness.output("second")) != nil)
            #expect(harness.stsRequests(harness.fixture.identities.accountId).count == firstRequests)
            #expect(child.standardError.contains("\"mr.accounts_added\":1"))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets())
        }
    }

    /// Azure's own STS and Entra ID host names, which the emulator answers for behind a proxy that
    /// routes them to it: the emulator is then Azure (for the operator's proxy and CA) or the
    /// attacker reading what arrives (for a proxy and CA named in the file).
    static let azureNames = ["sts.westeurope.mixedreality.azure.com", "login.microsoftonline.com"]

    /// Runs `body` with an emulator that answers for ``azureNames`` and a proxy (with credentials
    /// `mr:pr0xy-pass`) routing those names to it.
    func withAzureBehindProxy(_ body: (SidecarHarness, ProxyProcess) async throws -> Void) async throws {
        try await withSidecar(configure: { $0.serverNames = Self.azureNames }) { harness in
            let port = harness.fixture.baseURL.port ?? 0
            let proxy = try await ProxyProcess.start(
                credentials: "mr:pr0xy-pass",
                routes: Dictionary(uniqueKeysWithValues: Self.azureNames.map { ($0, port) }))
            defer { Task { await proxy.stop() } }
            try await body(harness, proxy)
        }
    }

    @Test(
        "behind the egress proxy the operator chose: HTTPS_PROXY with credentials and --ca-file (a TLS-inspecting proxy's CA) carry the exchange to Azure's own STS; the password is never logged"
    )
    func egressProxy() async throws {
        try await withAzureBehindProxy { harness, proxy in
            var account = harness.defaultAccount
            account.endpoint = ""  // sts.westeurope.mixedreality.azure.com
            try harness.writeConfig([account], tls: false)
            let environment = ["HTTPS_PROXY": proxy.url(credentials: "mr:pr0xy-pass")]
            for caOption in [["--ca-file", harness.fixture.caFile], []] {
                try? FileManager.default.removeItem(atPath: harness.output("anchors"))
                let proxied = try harness.start(
                    ["run", "--once"] + caOption,
                    environment: caOption.isEmpty
                        ? environment.merging(["MR_TOKEN_SIDECAR_CA_FILE": harness.fixture.caFile]) { $1 } : environment
                )
                #expect(await proxied.exitStatus() == 0, "\(proxied.standardError.suffix(1000))")
                #expect(proxied.standardError.contains(#""mr.proxy":"http://127.0.0.1:\#(proxy.port)""#))
                expectNoSecrets(proxied, harness.secrets(extra: ["pr0xy-pass"]))
            }
            #expect(
                proxy.requests
                    == Array(repeating: "CONNECT sts.westeurope.mixedreality.azure.com:443 auth=ok", count: 2))
            #expect(harness.read(harness.output("anchors")) != nil)
            // Without the operator's CA the proxy's certificate is not trusted, and nothing is sent.
            let before = harness.stsRequests(harness.fixture.identities.accountId).count
            try FileManager.default.removeItem(atPath: harness.output("anchors"))
            let refused = try harness.start(["run", "--once"], environment: environment)
            #expect(await refused.exitStatus() == 1)
            #expect(harness.stsRequests(harness.fixture.identities.accountId).count == before)
        }
    }

    @Test(
        "a config that names its own proxy and CA gets no secret through them: run, run --once and doctor refuse it, naming the flag or variable to use"
    )
    func configCannotRouteSecrets() async throws {
        try await withAzureBehindProxy { harness, proxy in
            var key = harness.defaultAccount
            key.endpoint = ""
            // A client secret sent to the public cloud's Entra ID (no authorityHost), its token to the
            // emulator's STS (an allowed host).
            let entra = try harness.clientSecretAccount()
            // What a ConfigMap editor writes: the emulator's CA (a key they added to the ConfigMap) and
            // their proxy, which routes Azure's names to the emulator, where they read what arrives.
            try harness.writeConfig([key, entra], extra: "proxy:\n  url: \(proxy.url(credentials: "mr:pr0xy-pass"))")
            for arguments in [["run", "--once"], ["run"], ["doctor", "--output", "json"]] {
                let child = try harness.start(arguments)
                let status = await child.exitStatus()
                #expect(status == (arguments[0] == "doctor" ? 1 : 2), "\(arguments)")
                let said = child.standardError + child.standardOutput
                #expect(
                    said.contains("tls.caFile: applies only to the hosts the operator allowed"), "\(arguments): \(said)"
                )
                #expect(said.contains("--ca-file or MR_TOKEN_SIDECAR_CA_FILE"), "\(arguments)")
                #expect(said.contains("proxy: applies only to the hosts the operator allowed"), "\(arguments)")
                #expect(said.contains("HTTPS_PROXY and NO_PROXY in the pod spec"), "\(arguments)")
                #expect(said.contains("sends its secret to sts.westeurope.mixedreality.azure.com"), "\(arguments)")
                expectNoSecrets(child, harness.secrets(extra: ["pr0xy-pass"]))
            }
            #expect(proxy.requests.isEmpty, "nothing went through the file's proxy: \(proxy.requests)")
            #expect(harness.fixture.emulator.requests.count == 0, "no secret reached the file's CA holder")
        }
    }

    @Test("a reload that sends a secret somewhere new is refused and the running config kept; a restart applies it")
    func reloadRefusesNewDestination() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            // Renamed, with another key file: a new way out for a secret, to a host outside Azure.
            var renamed = harness.defaultAccount
            renamed.name = "renamed"
            renamed.keyName = "other"
            try harness.replaceConfig([renamed])  // the file watcher sees it (a SIGHUP would reload it again)
            #expect(await child.waitForStandardError("the new configuration changes where secrets go"))
            #expect(child.standardError.contains("renamed (new) sends"))
            guard let port = await harness.probePort(child) else {
                Issue.record("no probe server")
                return
            }
            let metrics = try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil)
            #expect(metrics.text.contains(#"mr_token_config_reloads_total{result="failure"} "#))
            #expect(metrics.text.contains(#"mr_token_config_reloads_total{result="success"} 0"#))
            let status = try await rawRequest(.GET, "http://127.0.0.1:\(port)/status", caFile: nil)
            #expect(status.text.contains(#""name":"anchors""#) && !status.text.contains("renamed"))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            let restarted = try harness.start(["run", "--once"])
            #expect(await restarted.exitStatus() == 0)
            #expect(harness.read(harness.output("renamed")) != nil, "a restart applies it")
            expectNoSecrets(child, harness.secrets())
        }
    }

    @Test("a config change on disk is picked up without a signal; a broken one keeps the old")
    func reloadOnFileChange() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            try FileManager.default.removeItem(atPath: harness.configPath)
            try "accounts: [ {name: BROKEN".write(toFile: harness.configPath, atomically: true, encoding: .utf8)
            #expect(await child.waitForStandardError("the new configuration is invalid; keeping the one in use"))
            guard let port = await harness.probePort(child) else {
                Issue.record("no probe server")
                return
            }
            #expect(try await rawRequest(.GET, "http://127.0.0.1:\(port)/healthz", caFile: nil).status == 200)
            var account = harness.defaultAccount
            account.name = "renamed"
            account.keyName = "anchors"  // the same key file: no new way out for the secret
            try harness.replaceConfig([account])
            #expect(await child.waitForStandardError("\"mr.reason\":\"config file changed\"", count: 2))
            #expect(await child.waitForStandardError("\"mr.account\":\"renamed\""))
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\"", count: 2))
            #expect(harness.read(harness.output("anchors")) != nil, "a removed account's file is left in place")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }

    @Test("probes: healthz, readyz, status without secrets, Prometheus metrics")
    func probes() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let child = try harness.start()
            guard let port = await harness.probePort(child) else {
                Issue.record("no probe server")
                return
            }
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            let base = "http://127.0.0.1:\(port)"
            #expect(try await rawRequest(.GET, "\(base)/healthz", caFile: nil).status == 200)
            #expect(try await rawRequest(.GET, "\(base)/readyz", caFile: nil).status == 200)
            let status = try await rawRequest(.GET, "\(base)/status", caFile: nil)
            let accounts = try #require(try status.json()["accounts"] as? [[String: Any]])
            #expect(accounts.first?["state"] as? String == "fresh")
            #expect(accounts.first?["name"] as? String == "anchors")
            #expect(accounts.first?["expiresOn"] as? String != nil && accounts.first?["nextAttempt"] as? String != nil)
            let metrics = try await rawRequest(.GET, "\(base)/metrics", caFile: nil).text
            for name in [
                "mr_token_expiry_timestamp_seconds{account=\"anchors\"}",
                "mr_token_refresh_attempts_total{account=\"anchors\",result=\"success\"} 1",
                "mr_token_last_success_timestamp_seconds", "mr_token_refresh_duration_seconds_bucket",
                "mr_token_state{account=\"anchors\",state=\"fresh\"} 1",
            ] {
                #expect(metrics.contains(name), "\(name)")
            }
            let secrets = harness.secrets()
            #expect(secrets.allSatisfy { !status.text.contains($0) && !metrics.contains($0) })
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            #expect(harness.read(harness.output("anchors")) != nil, "files intact after SIGTERM")
            expectNoSecrets(child, secrets)
        }
    }

    @Test("readyz is 503 while a token is missing; status shows the failing state and its error")
    func notReady() async throws {
        try await withSidecar { harness in
            var account = harness.defaultAccount
            account.key = "wrong-key-value"
            try harness.writeConfig([account])
            let child = try harness.start()
            guard let port = await harness.probePort(child) else {
                Issue.record("no probe server")
                return
            }
            #expect(await child.waitForStandardError("token refresh failed", count: 2))
            let base = "http://127.0.0.1:\(port)"
            let ready = try await rawRequest(.GET, "\(base)/readyz", caFile: nil)
            #expect(ready.status == 503)
            #expect(ready.text.contains("anchors"))
            let status = try await rawRequest(.GET, "\(base)/status", caFile: nil)
            let entry = try #require((try status.json()["accounts"] as? [[String: Any]])?.first)
            #expect(["failing", "refreshing"].contains(entry["state"] as? String ?? ""))
            let lastError = try #require(entry["lastError"] as? [String: Any])
            #expect(lastError["kind"] as? String == "authentication_failed")
            #expect(lastError["httpStatus"] as? Int == 401)
            #expect((lastError["correlationVector"] as? String)?.count == 22)
            expectNoSecret(["wrong-key-value"], in: status.text, "/status")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets(extra: ["wrong-key-value"]))
        }
    }

    @Test("the app is notified: a signal to the pid in a pid file and an HTTP POST without the token")
    func notify() async throws {
        try await withSidecar { harness in
            let target = try ChildProcess.signalTarget()
            #expect(await target.firstStdoutLine() == "ready", "\(target.standardError)")
            let pidFile = harness.directory.appendingPathComponent("app.pid").path
            try "\(target.pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
            var account = harness.defaultAccount
            account.extra = """
                    notify:
                      signal: { pidFile: \(pidFile), name: SIGUSR1 }
                      httpPost: \(harness.fixture.baseURL.absoluteString)/admin/echo
                """
            try harness.writeConfig([account])
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            #expect(await target.exitStatus() == 0)
            #expect(target.standardOutput.contains("got SIGUSR1"))
            #expect(await child.waitForStandardError("notified the application", count: 2))
            let posted = try #require(harness.fixture.emulator.requests.first { $0.path == "/admin/echo" })
            #expect(posted.method == "POST")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(posted.body.utf8)) as? [String: String])
            #expect(Set(body.keys) == ["account", "expiresOn"])
            #expect(body["account"] == "anchors")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }
}
