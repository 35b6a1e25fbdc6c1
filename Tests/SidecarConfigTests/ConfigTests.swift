import AzureCore
import Foundation
import Testing

@testable import SidecarConfig

#if canImport(Glibc)
import Glibc
#endif

@Suite("Config: YAML decoding and validation")
struct ConfigTests {
    static let good = """
        accounts:
          - name: anchors
            accountId: 6A8B0C3E-1111-4222-8333-944455556666
            accountDomain: eastus2.mixedreality.azure.com
            credential:
              type: accountKey
              keyFile: /etc/mr/anchors/key
            output:
              path: /var/run/mixedreality/anchors.token
          - name: rendering
            accountId: 7a8b0c3e-1111-4222-8333-944455556666
            accountDomain: westeurope.mixedreality.azure.com
            endpoint: https://sts.example
            credential:
              type: workloadIdentity
            output:
              path: /var/run/mixedreality/rendering.json
              format: json
              mode: "0400"
              group: 1000
            notify:
              signal: { pidFile: /shared/app.pid, name: SIGUSR1 }
              httpPost: http://127.0.0.1:8080/token-rotated
        refresh:
          at: 0.6
          jitter: 0.05
          minBackoff: 2s
          maxBackoff: 1m30s
          maxConcurrent: 4
        server:
          address: 127.0.0.1:9000
          readyMinValidity: 10m
        log:
          level: debug
          format: text

        """
    static let workloadEnvironment = [
        "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c",
        "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
    ]

    @Test("a full config decodes with its values and defaults")
    func decodes() throws {
        let configuration = try ConfigLoader.parse(
            Self.good, file: "config.yaml", environment: Self.workloadEnvironment,
            flags: .init(allowedHosts: ["sts.example"]))
        #expect(configuration.accounts.count == 2)
        let anchors = configuration.accounts[0]
        #expect(anchors.accountId.value == "6a8b0c3e-1111-4222-8333-944455556666")
        #expect(anchors.output.format == .token)
        #expect(anchors.output.mode == FileMode(bits: 0o440))
        let rendering = configuration.accounts[1]
        #expect(rendering.output.mode.bits == 0o400)
        #expect(rendering.output.group == 1000)
        #expect(rendering.notify?.signal?.name == .SIGUSR1)
        #expect(configuration.refresh.minBackoff.duration == .seconds(2))
        #expect(configuration.refresh.maxBackoff.duration == .seconds(90))
        #expect(configuration.server.hostAndPort?.port == 9000)
        #expect(configuration.server.readyMinValidity.duration == .seconds(600))
        #expect(configuration.log.format == .text)
        let minimal = try ConfigLoader.parse(
            "accounts:\n  - name: a\n    accountId: 6a8b0c3e-1111-4222-8333-944455556666\n    accountDomain: eastus2.mixedreality.azure.com\n    credential: {type: managedIdentity}\n    output: {path: /x/a.token}\n",
            file: "c", environment: [:])
        #expect(minimal.refresh == RefreshConfiguration())
        #expect(minimal.server.address == "0.0.0.0:8787")
        #expect(minimal.log == LogConfiguration())
        #expect(minimal.server.exposeStatus == false, "/status answers on loopback only by default")
    }

    @Test("every problem is reported at once, each with its key path and line")
    func everyProblemAtOnce() {
        let text = """
            accounts:
              - name: Bad_Name
                accountId: nope
                accountDomain: d
                credential:
                  type: accountKey
                output:
                  path: relative/path
                  mode: 0440
                  colour: blue
            refresh:
              minBackoff: 5
            """
        do {
            _ = try ConfigLoader.parse(text, file: "c.yaml", environment: [:])
            Issue.record("accepted")
        } catch {
            let lines = error.issues.map { "\($0.line ?? 0) \($0.path)" }
            #expect(lines.contains("2 accounts[0].name"))
            #expect(lines.contains("3 accounts[0].accountId"))
            #expect(lines.contains("9 accounts[0].output.mode"))
            #expect(lines.contains("10 accounts[0].output.colour"))
            #expect(lines.contains("12 refresh.minBackoff"))
            #expect(lines.contains("8 accounts[0].output.path"), "validation runs too")
            #expect(lines.contains("6 accounts[0].credential.keyFile"))
            #expect(lines.contains("4 accounts[0].accountDomain"), "a domain must be a DNS host name")
            #expect(error.issues.count == 8, "\(error)")
            #expect("\(error)".hasPrefix("c.yaml: 8 problems:"))
        }
    }

    @Test("the issue's example message for a mode without the leading zero")
    func modeMessage() {
        let text = Self.good.replacingOccurrences(of: "mode: \"0400\"", with: "mode: \"440\"")
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(
                text, file: "c", environment: Self.workloadEnvironment, flags: .init(allowedHosts: ["sts.example"]))
        }
        do {
            _ = try ConfigLoader.parse(
                text, file: "c", environment: Self.workloadEnvironment, flags: .init(allowedHosts: ["sts.example"]))
        } catch {
            #expect(
                error.issues.map(\.description) == [
                    "line 19: accounts[1].output.mode: \"440\" must be an octal string like \"0440\""
                ])
        }
    }

    /// One account with the given lines under it, as a config file.
    @Test(
        "a config path that is missing, a directory, a FIFO or /dev/zero gets a message naming the file, without blocking or reading without end",
        .timeLimit(.minutes(1)))
    func unreadableFile() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(mkfifo(folder + "/fifo", 0o600) == 0)
        let cases = [
            (folder + "/missing", "cannot read the file"), (folder, "a directory, not a file"),
            (folder + "/fifo", "not a regular file"), ("/dev/zero", "not a regular file"),
        ]
        for (path, says) in cases {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(path: path, environment: [:]) }
            #expect(error?.file == path)
            #expect(error?.issues.first?.message.contains(says) == true, "\(path): \(String(describing: error))")
        }
    }

    static func account(_ lines: String, credential: String = "{type: accountKey, keyFile: /k}") -> String {
        """
        accounts:
          - name: anchors
            accountId: 6a8b0c3e-1111-4222-8333-944455556666
            credential: \(credential)
            output: {path: /var/run/mixedreality/anchors.token}
        \(lines)
        """
    }

    func problems(
        _ text: String, environment: [String: String] = [:], allowedHosts: [String] = [], allowedScopes: [String] = []
    ) -> [String] {
        do {
            _ = try ConfigLoader.parse(
                text, file: "c", environment: environment,
                flags: .init(allowedHosts: allowedHosts, allowedScopes: allowedScopes))
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test(
        "secrets go only to Azure's STS and Entra hosts unless the command line or the environment allows another",
        arguments: [
            ("    accountDomain: eastus2.mixedreality.azure.com@evil.example", "accounts[0].accountDomain"),
            ("    accountDomain: evil.example", "accounts[0].accountDomain: the STS host sts.evil.example"),
            (
                "    accountDomain: eastus2.mixedreality.azure.com\n    endpoint: https://sts.evil.example",
                "accounts[0].endpoint: the STS host sts.evil.example"
            ),
            (
                "    accountDomain: eastus2.mixedreality.azure.com\n    endpoint: https://me:pw@sts.eastus2.mixedreality.azure.com",
                "carries user info"
            ),
            ("    accountDomain: mixedreality.azure.com.evil.example", "is not a Mixed Reality STS"),
        ])
    func stsHosts(lines: String, expected: String) {
        let found = problems(Self.account(lines))
        #expect(found.contains { $0.contains(expected) }, "\(found)")
        #expect(found.allSatisfy { !$0.contains("not a Mixed Reality STS") || $0.contains("--allowed-hosts") })
    }

    /// An account whose secrets go to `sts.example`, a host the tests allow.
    static let privateSTS = account(
        "    accountDomain: eastus2.mixedreality.azure.com\n    endpoint: https://sts.example")

    @Test("proxy: a URL and noProxy list, or a named error; the log variables replace log.level and log.format")
    func proxyAndLogVariables() throws {
        let base = Self.privateSTS
        let parsed = try ConfigLoader.parse(
            base + "\nproxy:\n  url: http://user:pw@proxy.corp:3128\n  noProxy: [.svc.cluster.local, 10.0.0.0/8]\n",
            file: "c", environment: ["MR_TOKEN_SIDECAR_LOG_LEVEL": "debug", "MR_TOKEN_SIDECAR_LOG_FORMAT": "text"],
            flags: .init(allowedHosts: ["sts.example"]))
        #expect(
            parsed.proxy
                == ProxySection(url: "http://user:pw@proxy.corp:3128", noProxy: [".svc.cluster.local", "10.0.0.0/8"]))
        #expect(parsed.log == LogConfiguration(level: .debug, format: .text))
        let bad = problems(base + "\nproxy:\n  url: https://user:pw@proxy.corp\n", allowedHosts: ["sts.example"])
        #expect(
            bad.contains { $0.contains("proxy.url: it is not a usable proxy URL: the scheme https is not supported") },
            "\(bad)")
        #expect(bad.allSatisfy { !$0.contains("pw") }, "the password is not echoed")
        #expect(
            problems(base + "\nproxy:\n  noProxy: [x]\n", allowedHosts: ["sts.example"]).contains {
                $0.contains("proxy.url")
            })
        #expect(
            problems(base, environment: ["MR_TOKEN_SIDECAR_LOG_FORMAT": "xml"], allowedHosts: ["sts.example"]).contains
            {
                $0.contains("MR_TOKEN_SIDECAR_LOG_FORMAT=\"xml\" is not one of json, text")
            })
    }

    @Test("tls: systemRoots defaults to true; false needs a caFile; another key under tls is refused")
    func tlsSection() throws {
        let base = Self.privateSTS
        let flags = OperatorPolicy.Flags(allowedHosts: ["sts.example"])
        #expect(try ConfigLoader.parse(base, file: "c", environment: [:], flags: flags).tls == TLSSection())
        let ca = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID()).pem").path
        try "x".write(toFile: ca, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let pinned = try ConfigLoader.parse(
            base + "\ntls: {caFile: \(ca), systemRoots: false}\n", file: "c", environment: [:], flags: flags)
        #expect(pinned.tls == TLSSection(caFile: ca, systemRoots: false))
        let options = pinned.pipelineOptions(applicationId: "test")
        #expect(options.additionalTrustedCAFile == nil && options.trustSystemRoots, "Azure's hosts: unchanged")
        #expect(
            options.scopedTransport
                == ScopedTransport(
                    hosts: ["sts.example"], additionalTrustedCAFile: ca, trustSystemRoots: false, proxy: nil)
        )
        #expect(
            problems(base + "\ntls: {systemRoots: false}\n", allowedHosts: ["sts.example"]).contains {
                $0.contains("tls.systemRoots: false trusts tls.caFile alone, and there is none")
            })
        #expect(problems(base + "\ntls: {systemRoots: maybe}\n").contains { $0.contains("tls.systemRoots") })
        #expect(problems(base + "\ntls: {pin: x}\n").contains { $0.contains("tls.pin: unknown key") })
        let unreadable = problems(base + "\ntls: {caFile: /nonexistent/pasted-value}\n", allowedHosts: ["sts.example"])
        #expect(unreadable.contains { $0.contains("tls.caFile: is not a readable file") }, "\(unreadable)")
        #expect(unreadable.allSatisfy { !$0.contains("pasted-value") }, "a *File value is never echoed")
    }

    @Test(
        "the file's tls.caFile, tls.systemRoots and proxy are refused while an account sends a secret to Azure's own hosts, naming the flag or variable to use",
        arguments: [
            (
                "tls: {caFile: CA}", "tls.caFile: applies only to the hosts the operator allowed",
                "--ca-file or MR_TOKEN_SIDECAR_CA_FILE"
            ),
            ("tls: {caFile: CA, systemRoots: false}", "tls.systemRoots: false applies only", "the system's CA store"),
            ("proxy: {url: 'http://proxy.evil.example:3128'}", "proxy: applies only", "HTTPS_PROXY and NO_PROXY"),
            ("proxy: {url: ''}", "proxy: applies only", "HTTPS_PROXY and NO_PROXY"),
        ])
    func fileTransportForAzureHosts(section: String, problem: String, remedy: String) throws {
        let ca = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID()).pem").path
        try "x".write(toFile: ca, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let extra = "\n" + section.replacingOccurrences(of: "CA", with: ca) + "\n"
        // The STS of an account key, the Entra ID authority of a client secret (the public cloud by
        // default, or AZURE_AUTHORITY_HOST), each Azure's own.
        let secret = "{type: clientSecret, tenantId: t, clientId: c, secretFile: /s}"
        for (text, environment, host) in [
            (
                Self.account("    accountDomain: eastus2.mixedreality.azure.com") + extra, [:],
                "sts.eastus2.mixedreality.azure.com"
            ),
            (
                Self.account(
                    "    accountDomain: a.mixedreality.azure.com\n    endpoint: https://sts.example", credential: secret
                )
                    + extra, [:], "login.microsoftonline.com"
            ),
            (
                Self.account(
                    "    accountDomain: a.mixedreality.azure.com\n    endpoint: https://sts.example", credential: secret
                )
                    + extra, ["AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/"], "login.microsoftonline.us"
            ),
        ] as [(String, [String: String], String)] {
            let found = problems(text, environment: environment, allowedHosts: ["sts.example"])
            #expect(
                found.contains {
                    $0.contains(problem) && $0.contains(remedy)
                        && $0.contains("accounts[0] sends its secret to \(host)")
                },
                "\(found)")
            // The operator opens the host: the file may then route it.
            #expect(problems(text, environment: environment, allowedHosts: ["sts.example", host]).isEmpty)
        }
    }

    @Test(
        "--ca-file and MR_TOKEN_SIDECAR_CA_FILE: the operator's CA, trusted for every host; a relative or unreadable one is refused by name"
    )
    func operatorCA() throws {
        let ca = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID()).pem").path
        try "x".write(toFile: ca, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let base = Self.account("    accountDomain: eastus2.mixedreality.azure.com")
        let fromFlag = try ConfigLoader.parse(base, file: "c", environment: [:], flags: .init(caFile: ca))
        let fromVariable = try ConfigLoader.parse(base, file: "c", environment: ["MR_TOKEN_SIDECAR_CA_FILE": ca])
        for configuration in [fromFlag, fromVariable] {
            let options = configuration.pipelineOptions(applicationId: "test")
            #expect(options.additionalTrustedCAFile == ca && options.trustSystemRoots && options.scopedTransport == nil)
        }
        for (flags, environment, named) in [
            (OperatorPolicy.Flags(caFile: "relative.pem"), [:], "--ca-file must be an absolute path"),
            (
                .init(), ["MR_TOKEN_SIDECAR_CA_FILE": "/nonexistent/ca.pem"],
                "MR_TOKEN_SIDECAR_CA_FILE: /nonexistent/ca.pem is not a readable file"
            ),
        ] as [(OperatorPolicy.Flags, [String: String], String)] {
            let error = #expect(throws: ConfigError.self) {
                try ConfigLoader.parse(base, file: "c", environment: environment, flags: flags)
            }
            #expect(error?.issues.first?.message.contains(named) == true, "\(String(describing: error))")
        }
    }

    @Test(
        "scope: the Mixed Reality resource in each SDK's spelling, or a scope the operator allows; never another resource through the file alone",
        arguments: [
            ("https://sts.mixedreality.azure.com//.default", true),
            ("https://sts.mixedreality.azure.com/.default", true),
            ("https://sts.mixedreality.azure.com", true), ("https://sts.eastus2.mixedreality.azure.com/.default", true),
            ("https://management.azure.com/.default", false), ("https://graph.microsoft.com/.default", false),
            ("https://sts.mixedreality.azure.com.evil.example/.default", false),
            ("https://sts.mixedreality.azure.com/other/.default", false),
            ("api://sts.mixedreality.azure.com/.default", false),
            ("https://sts.mixedreality.azure.com:8443/.default", false),
        ])
    func scopes(scope: String, allowed: Bool) {
        let text = Self.account(
            "    accountDomain: eastus2.mixedreality.azure.com",
            credential: "{type: clientSecret, tenantId: t, clientId: c, secretFile: /s, scope: '\(scope)'}")
        let found = problems(text)
        #expect(found.isEmpty == allowed, "\(found)")
        if !allowed {
            #expect(
                found.contains {
                    $0.contains("accounts[0].credential.scope")
                        && $0.contains("--allowed-scopes or MR_TOKEN_SIDECAR_ALLOWED_SCOPES")
                })
            #expect(problems(text, allowedScopes: [scope]).isEmpty, "--allowed-scopes")
            #expect(problems(text, environment: ["MR_TOKEN_SIDECAR_ALLOWED_SCOPES": "x, \(scope)"]).isEmpty)
        }
    }

    @Test(
        "refresh.minBackoff under 1s is refused unless the operator lowers the floor: a failing account would call the STS hundreds of times a second"
    )
    func backoffFloor() {
        let base = Self.account("    accountDomain: eastus2.mixedreality.azure.com")
        let fast = problems(base + "\nrefresh: {minBackoff: 1ms}\n")
        #expect(
            fast.contains {
                $0.contains("refresh.minBackoff: 1ms is shorter than 1s") && $0.contains("1000 times a second")
            }, "\(fast)")
        #expect(problems(base + "\nrefresh: {minBackoff: 999ms}\n").contains { $0.contains("refresh.minBackoff") })
        #expect(problems(base + "\nrefresh: {minBackoff: 1s}\n").isEmpty)
        // The operator may lower the floor (tests that rotate tokens as fast as they can); the file cannot.
        let floor = ["MR_TOKEN_SIDECAR_MIN_BACKOFF_FLOOR": "1ms"]
        #expect(problems(base + "\nrefresh: {minBackoff: 1ms}\n", environment: floor).isEmpty)
        #expect(
            problems(base, environment: ["MR_TOKEN_SIDECAR_MIN_BACKOFF_FLOOR": "fast"]).contains {
                $0.contains("MR_TOKEN_SIDECAR_MIN_BACKOFF_FLOOR: \"fast\" is not a duration")
            })
    }

    @Test("two outputs naming one file through different paths (a linked folder, '..') are refused")
    func sameFileThroughLinks() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "outputs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/real", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createSymbolicLink(atPath: folder + "/link", withDestinationPath: folder + "/real")
        for other in ["\(folder)/link/a.token", "\(folder)/real/../real/a.token"] {
            let text = """
                accounts:
                  - name: anchors
                    accountId: 6a8b0c3e-1111-4222-8333-944455556666
                    accountDomain: eastus2.mixedreality.azure.com
                    credential: {type: accountKey, keyFile: /k}
                    outputs: [{path: \(folder)/real/a.token}, {path: \(other), format: json}]
                """
            #expect(
                problems(text).contains {
                    $0.contains("accounts[0].outputs[1].path: is also another output of this account")
                }, "\(other)")
        }
    }

    @Test("the value of a *File key is never echoed: a key pasted in its place stays out of every message")
    func fileValuesNotEchoed() {
        let pasted = "c2VjcmV0LWtleS1wYXN0ZWQtaW4tdGhlLXdyb25nLXBsYWNl"
        for credential in [
            "{type: accountKey, keyFile: \(pasted)}", "{type: accountKey, keyFiles: [/k, \(pasted)]}",
            "{type: clientSecret, tenantId: t, clientId: c, secretFile: \(pasted)}",
            "{type: clientCertificate, tenantId: t, clientId: c, certificateFile: \(pasted)}",
            "{type: workloadIdentity, tenantId: t, clientId: c, tokenFile: \(pasted)}",
        ] {
            let found = problems(
                Self.account("    accountDomain: eastus2.mixedreality.azure.com", credential: credential))
            #expect(found.contains { $0.contains("must be an absolute path") }, "\(found)")
            expectNoPasted(found.joined(separator: "\n"), pasted)
        }
        let pid = problems(
            Self.account(
                "    accountDomain: eastus2.mixedreality.azure.com\n    notify: {signal: {pidFile: \(pasted), name: SIGHUP}}"
            ))
        #expect(pid.contains { $0.contains("notify.signal.pidFile: must be an absolute path") }, "\(pid)")
        expectNoPasted(pid.joined(separator: "\n"), pasted)
    }

    func expectNoPasted(_ text: String, _ pasted: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(!text.contains(pasted.prefix(12)), "the value was echoed", sourceLocation: sourceLocation)
    }

    @Test("an allowed host is accepted from --allowed-hosts or MR_TOKEN_SIDECAR_ALLOWED_HOSTS, never from the file")
    func allowedHosts() {
        let text = Self.account(
            "    accountDomain: eastus2.mixedreality.azure.com\n    endpoint: https://127.0.0.1:8443")
        #expect(!problems(text).isEmpty)
        #expect(problems(text, allowedHosts: ["127.0.0.1"]).isEmpty)
        #expect(problems(text, environment: ["MR_TOKEN_SIDECAR_ALLOWED_HOSTS": "sts.other, 127.0.0.1"]).isEmpty)
        #expect(
            problems(text, environment: ["MR_TOKEN_SIDECAR_ALLOWED_HOSTS": "https://127.0.0.1"]).contains {
                $0.contains("MR_TOKEN_SIDECAR_ALLOWED_HOSTS")
            })
        #expect(
            !problems(Self.account("    accountDomain: eastus2.mixedreality.azure.com") + "\nallowedHosts: [x]").isEmpty
        )
    }

    @Test("the Entra ID authority, from the file or AZURE_AUTHORITY_HOST, must be an Azure cloud's or allowed")
    func authorityHosts() {
        let entra =
            "{type: clientSecret, tenantId: t, clientId: c, secretFile: /s, authorityHost: https://login.evil.example}"
        let text = Self.account("    accountDomain: eastus2.mixedreality.azure.com", credential: entra)
        #expect(
            problems(text).contains {
                $0.contains("accounts[0].credential.authorityHost: the authority host login.evil.example")
            })
        #expect(problems(text, allowedHosts: ["login.evil.example"]).isEmpty)
        for cloud in EgressPolicy.authorityHosts {
            #expect(problems(text.replacingOccurrences(of: "login.evil.example", with: cloud)).isEmpty)
        }
        let fromEnvironment = Self.account(
            "    accountDomain: eastus2.mixedreality.azure.com",
            credential: "{type: clientSecret, tenantId: t, clientId: c, secretFile: /s}")
        #expect(
            problems(fromEnvironment, environment: ["AZURE_AUTHORITY_HOST": "https://login.evil.example/"]).contains {
                $0.contains("AZURE_AUTHORITY_HOST login.evil.example")
            })
    }

    @Test("MR_TOKEN_SIDECAR_ALLOWED_CREDENTIALS (set by the injector) limits the credential types")
    func allowedCredentials() {
        let managed = Self.account(
            "    accountDomain: eastus2.mixedreality.azure.com", credential: "{type: managedIdentity}")
        let environment = ["MR_TOKEN_SIDECAR_ALLOWED_CREDENTIALS": "accountKey,workloadIdentity"]
        #expect(
            problems(managed, environment: environment).contains {
                $0.contains("accounts[0].credential.type: managedIdentity is not allowed")
            })
        #expect(problems(managed).isEmpty)
        #expect(
            problems(Self.account("    accountDomain: eastus2.mixedreality.azure.com"), environment: environment)
                .isEmpty)
    }
}
