import AzureCore
import Foundation
import STSEmulator
import TestSupport
import Testing
import TokenSidecarTesting

/// The doctor's JSON report, as a script reads it.
struct DoctorReport: Decodable {
    struct Check: Decodable {
        var hop: String
        var outcome: String
        var summary: String
        var fix: String?
    }
    struct Account: Decodable {
        var name: String
        var ok: Bool
        var checks: [Check]
    }
    var ok: Bool
    var accounts: [Account]
    var config: Check?
    var running: Check?

    /// The check that failed, if any.
    var failure: Check? { accounts.flatMap(\.checks).first { $0.outcome == "failed" } ?? config }
}

@Suite("mr-token-sidecar doctor: every hop, one fault each, against the emulator")
struct DoctorTests {
    /// Runs the doctor on the harness's config; returns its exit status, report and output.
    func doctor(
        _ harness: SidecarHarness, environment: [String: String] = [:], arguments: [String] = []
    ) async throws -> (
        Int32, DoctorReport, ChildProcess
    ) {
        let child = try harness.start(["doctor", "--output", "json"] + arguments, environment: environment)
        let status = await child.exitStatus()
        let line = try #require(
            child.standardOutput.split(separator: "\n").last, "no report: \(child.standardError)")
        return (status, try JSONDecoder().decode(DoctorReport.self, from: Data(line.utf8)), child)
    }

    @Test("all good: every hop passes, exit 0; the text report says so; nothing secret is printed")
    func healthy() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let (status, report, child) = try await doctor(harness)
            #expect(status == 0, "\(child.standardOutput)")
            #expect(report.ok)
            let hops = report.accounts[0].checks.map(\.hop)
            #expect(Array(Set(hops)).sorted() == ["config", "network", "output", "secrets", "sts"], "\(hops)")
            #expect(report.accounts[0].checks.first { $0.hop == "sts" }?.summary.contains("MS-CV") == true)
            let text = try harness.start(["doctor"])
            #expect(await text.exitStatus() == 0)
            #expect(text.standardOutput.contains("every hop of every account works"))
            expectNoSecrets(child, harness.secrets())
            expectNoSecrets(text, harness.secrets())
            #expect(harness.read(harness.output("anchors")) == nil, "the doctor writes no token")
        }
    }

    @Test(
        "each fault stops the account at its hop with the fix",
        arguments: [
            "config", "key missing", "not a key", "wrong key", "no role", "unreachable", "no output folder",
        ])
    func accountKeyHops(fault: String) async throws {
        try await withSidecar { harness in
            var account = harness.defaultAccount
            switch fault {
            case "key missing": account.key = nil
            case "not a key": account.key = "not a key at all"
            case "wrong key": account.key = "V3J4bmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="
            case "unreachable": account.endpoint = "https://127.0.0.1:9"
            case "no output folder":
                account.outputPath = harness.directory.appending(path: "missing/anchors.token").path
            default: break
            }
            if fault == "key missing" {
                account.credential =
                    "type: accountKey\n      keyFile: \(harness.directory.appending(path: "absent.key").path)"
            }
            if fault == "no role" { harness.fixture.emulator.inject(Fault(endpoint: .sts, count: 1, status: 403)) }
            try harness.writeConfig([account], extra: fault == "config" ? "refresh:\n  at: 2" : "")
            let (status, report, child) = try await doctor(harness)
            #expect(status == 1)
            #expect(!report.ok)
            let failure = try #require(report.failure, "\(child.standardOutput)")
            let expected: (hop: String, summary: String, fix: String) =
                switch fault {
                case "config": ("config", "refresh", "fix each key")
                case "key missing": ("secrets", "absent.key", "mount the Secret")
                case "not a key": ("secrets", "does not hold an account key", "Access keys")
                case "wrong key": ("sts", "HTTP 401", "copy key 1 or key 2")
                case "no role": ("sts", "HTTP 403", "Spatial Anchors Account Reader")
                case "unreachable": ("network", "127.0.0.1", "NetworkPolicy")
                default: ("output", "is not a folder", "emptyDir")
                }
            #expect(failure.hop == expected.hop, "\(failure)")
            #expect(failure.summary.contains(expected.summary), "\(failure.summary)")
            #expect(failure.fix?.contains(expected.fix) == true, "\(failure.fix ?? "")")
            expectNoSecrets(child, harness.secrets(extra: ["V3J4bmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="]))
        }
    }

    @Test("a server whose clock is an hour off fails the network hop before any secret is sent")
    func clockSkew() async throws {
        try await withSidecar { harness in
            // A TLS server answering with a Date an hour ahead, trusted through the config's CA bundle.
            let folder = harness.directory.path
            let openssl = try ChildProcess.startSystem(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                    "-subj", "/CN=skewed", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "\(folder)/skewed.key",
                    "-out", "\(folder)/skewed.crt",
                ])
            #expect(await openssl.exitStatus() == 0, "\(openssl.standardError)")
            let bundle = try String(contentsOfFile: "\(folder)/skewed.crt", encoding: .utf8)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: harness.fixture.caFile))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(("\n" + bundle).utf8))
            try handle.close()
            let server = try ChildProcess.startSystem(
                "/usr/bin/python3",
                [
                    "-c",
                    """
                    import http.server, ssl, sys, time, email.utils
                    class Handler(http.server.BaseHTTPRequestHandler):
                        def do_GET(self):
                            self.send_response_only(404)
                            self.send_header("Date", email.utils.formatdate(time.time() + 3600, usegmt=True))
                            self.send_header("Content-Length", "0")
                            self.end_headers()
                        def log_message(self, *args): pass
                    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
                    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    context.load_cert_chain(sys.argv[1], sys.argv[2])
                    server.socket = context.wrap_socket(server.socket, server_side=True)
                    print(server.server_address[1], flush=True)
                    server.serve_forever()
                    """, "\(folder)/skewed.crt", "\(folder)/skewed.key",
                ])
            let port = try #require(await server.firstStdoutLine().flatMap { Int($0) })
            defer { server.signal(SIGKILL) }
            var account = harness.defaultAccount
            account.endpoint = "https://127.0.0.1:\(port)"
            try harness.writeConfig([account])
            let (status, report, child) = try await doctor(harness)
            #expect(status == 1)
            let failure = try #require(report.failure, "\(child.standardOutput)")
            #expect(failure.hop == "network")
            #expect(
                failure.summary.contains("clock differs from this machine's by 3600 s")
                    || failure.summary.contains("by 3599 s") || failure.summary.contains("by 3601 s"),
                "\(failure.summary)")
            #expect(failure.fix?.contains("NTP") == true)
            #expect(harness.stsRequests(harness.fixture.identities.accountId).isEmpty, "no key was sent")
        }
    }

    @Test(
        "Entra ID hops: the projected token's audience and expiry, an expired certificate, a wrong secret, an unknown application",
        arguments: ["audience", "expired token", "expired certificate", "wrong secret", "unknown client"])
    func entraHops(fault: String) async throws {
        let certificate = try TestCertificate.rsa(
            validity: Date().addingTimeInterval(
                -7200)...Date().addingTimeInterval(fault == "expired certificate" ? -3600 : 86400))
        let subject = "system:serviceaccount:viewer:viewer"
        try await withSidecar(configure: {
            $0.applications[0].certificatesPEM = [try! certificate.pem]
            $0.applications[0].federatedCredentials = [.init(subject: subject)]
        }) { harness in
            let fixture = harness.fixture
            let identities = fixture.identities
            let file = harness.directory.appending(path: "credential").path
            var lines = [
                "tenantId: \(identities.tenantId)",
                "clientId: \(fault == "unknown client" ? UUID().uuidString.lowercased() : identities.clientId)",
                "authorityHost: \(fixture.baseURL.absoluteString)",
            ]
            switch fault {
            case "audience", "expired token":
                let token = try fixture.emulator.mintServiceAccountToken(
                    subject: subject, audience: fault == "audience" ? "api://other" : STSEmulator.federatedAudience,
                    lifetime: fault == "expired token" ? -60 : 3600)
                try token.write(toFile: file, atomically: true, encoding: .utf8)
                lines += ["type: workloadIdentity", "tokenFile: \(file)"]
            case "expired certificate":
                try certificate.combinedPEM.write(toFile: file, atomically: true, encoding: .utf8)
                lines += ["type: clientCertificate", "certificateFile: \(file)"]
            default:
                let secret =
                    fault == "wrong secret" ? "wrong-" + TestIdentities.randomSecret() : identities.clientSecret
                try secret.write(toFile: file, atomically: true, encoding: .utf8)
                lines += ["type: clientSecret", "secretFile: \(file)"]
            }
            try harness.writeConfig([
                TestAccount(
                    name: "entra", accountId: identities.accountId, credential: lines.joined(separator: "\n      "))
            ])
            let (status, report, child) = try await doctor(harness)
            #expect(status == 1)
            let failure = try #require(report.failure, "\(child.standardOutput)")
            let expected: (hop: String, text: String) =
                switch fault {
                case "audience": ("service-account-token", "api://AzureADTokenExchange")
                case "expired token": ("service-account-token", "expired")
                case "expired certificate": ("secrets", "expired")
                case "wrong secret": ("entra", "AADSTS7000215")
                default: ("entra", "AADSTS700016")
                }
            #expect(failure.hop == expected.hop, "\(failure)")
            #expect((failure.summary + (failure.fix ?? "")).contains(expected.text), "\(failure)")
            expectNoSecrets(child, harness.secrets(extra: [identities.clientSecret]))
            let text = child.standardOutput
            #expect(!text.contains("eyJ"), "no JWT in the report")
        }
    }

    @Test(
        "the file compared with the running sidecar: a change of where secrets go that the sidecar refused at reload is named before doctor applies it"
    )
    func comparedWithRunning() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let sidecar = try harness.start()
            defer { sidecar.signal(SIGTERM) }
            let port = try #require(await harness.probePort(sidecar))
            #expect(await sidecar.waitForStandardError("\"msg\":\"token refreshed\""))
            let address = ["--sidecar-address", "127.0.0.1:\(port)"]
            let (_, same, _) = try await doctor(harness, arguments: address)
            #expect(same.running?.outcome == "ok", "\(String(describing: same.running))")
            #expect(same.running?.summary.contains("sends secrets where the sidecar at 127.0.0.1:\(port) does") == true)

            // A ConfigMap edit sends the key file of another name: the sidecar refuses the reload.
            var moved = harness.defaultAccount
            moved.keyName = "moved"
            try harness.replaceConfig([moved])
            #expect(await sidecar.waitForStandardError("the new configuration changes where secrets go"))
            let (_, differs, child) = try await doctor(harness, arguments: address)
            let running = try #require(differs.running, "\(child.standardOutput)")
            #expect(running.outcome == "warning")
            #expect(
                running.summary.contains("anchors.credential.keyFile: \(harness.directory.path)/anchors.key in use"),
                "\(running.summary)")
            #expect(running.summary.contains("\(harness.directory.path)/moved.key in the file"))
            #expect(running.fix?.contains("who edited the ConfigMap") == true)
            let text = try harness.start(["doctor"] + address)
            _ = await text.exitStatus()
            #expect(
                text.standardOutput.hasPrefix("running  warn  the file changes where secrets go"),
                "\(text.standardOutput)")
            // No sidecar there: the file is checked on its own.
            let (_, alone, _) = try await doctor(harness, arguments: ["--sidecar-address", "127.0.0.1:9"])
            #expect(alone.running?.summary.contains("no sidecar answers at 127.0.0.1:9") == true)
            let (_, none, _) = try await doctor(harness, arguments: ["--sidecar-address", "none"])
            #expect(none.running == nil)
        }
    }

    @Test(
        "text from outside (Entra ID's error, the STS's aid, a link target) reaches doctor's report and the termination message escaped"
    )
    func outsideTextEscaped() async throws {
        try await withSidecar { harness in
            let escape = "\u{1B}[2J\u{1B}]0;owned\u{07}"
            let entra = try harness.clientSecretAccount(authorityHost: harness.fixture.baseURL.absoluteString)
            // A key file that is a link to a name with control characters in it.
            var linked = harness.defaultAccount
            linked.name = "linked"
            linked.key = nil
            let link = harness.directory.appending(path: "linked.key").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/missing/\(escape)")
            linked.credential = "type: accountKey\n      keyFile: \(link)"
            try harness.writeConfig([harness.defaultAccount, entra, linked])
            let description = #"\u001b[2J\u001b]0;owned\u0007"#
            harness.fixture.emulator.inject(
                Fault(
                    endpoint: .entra, count: 2, status: 400,
                    body:
                        #"{"error":"invalid_client\#(description)","error_description":"AADSTS7000215: bad\#(description)"}"#
                ))
            let other = ScriptedTokenSource.token(accountId: "evil\(escape)", issuedAt: Date(), lifetime: 86400)
            harness.fixture.emulator.inject(Fault(endpoint: .sts, count: 2, body: #"{"AccessToken":"\#(other)"}"#))
            let doctor = try harness.start(["doctor", "--sidecar-address", "none"])
            #expect(await doctor.exitStatus() == 1)
            let termination = harness.directory.appending(path: "termination").path
            let once = try harness.start(["run", "--once", "--termination-message-path", termination])
            #expect(await once.exitStatus() == 1)
            let summary = try #require(harness.read(termination))
            for (what, text) in [("doctor", doctor.standardOutput), ("the termination message", summary)] {
                #expect(
                    !text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 },
                    "\(what): \(text.debugDescription)")
                #expect(text.contains(#"/missing/\u{1B}[2J"#), "\(what): \(text)")
            }
            #expect(doctor.standardOutput.contains(#"invalid_client\u{1B}[2J"#), "\(doctor.standardOutput)")
            #expect(doctor.standardOutput.contains(#"another account (evil\u{1B}[2J"#), "\(doctor.standardOutput)")
            #expect(summary.contains(#"another account (evil\u{1B}[2J"#), "\(summary)")
        }
    }

    @Test("workload identity, all good: the federated credential to create is spelled out")
    func federatedCredentialSpelledOut() async throws {
        let subject = "system:serviceaccount:viewer:viewer"
        try await withSidecar(configure: { $0.applications[0].federatedCredentials = [.init(subject: subject)] }) {
            harness in
            let fixture = harness.fixture
            let file = harness.directory.appending(path: "sa-token").path
            try fixture.emulator.mintServiceAccountToken(subject: subject).write(
                toFile: file, atomically: true, encoding: .utf8)
            try harness.writeConfig([
                TestAccount(
                    name: "federated", accountId: fixture.identities.accountId,
                    credential: [
                        "type: workloadIdentity", "tenantId: \(fixture.identities.tenantId)",
                        "clientId: \(fixture.identities.clientId)", "tokenFile: \(file)",
                        "authorityHost: \(fixture.baseURL.absoluteString)",
                    ].joined(separator: "\n      "))
            ])
            let (status, report, child) = try await doctor(harness)
            #expect(status == 0, "\(child.standardOutput)")
            let claims = try #require(report.accounts[0].checks.first { $0.hop == "service-account-token" })
            #expect(claims.summary.contains("subject \(subject)"))
            #expect(claims.summary.contains("audience api://AzureADTokenExchange"))
            #expect(report.accounts[0].checks.contains { $0.hop == "entra" && $0.outcome == "ok" })
        }
    }
}
