package import AzureCore
import AzureIdentity
import DaemonFiles
package import Logging
import MixedRealityAuthentication
import NIOHTTP1
package import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `mr-token-sidecar doctor`: every hop of every account, in the order a token travels, each
/// account stopping at its first failure with what is wrong and what to do. It exchanges
/// credentials as the sidecar does but writes no token file, and prints no secret or token.
package struct Doctor: Sendable {
    /// One check's outcome.
    package struct Check: Encodable, Sendable, Equatable {
        package enum Outcome: String, Encodable, Sendable { case ok, warning, failed }
        package var hop: FailureAdvice.Hop
        package var outcome: Outcome
        package var summary: String
        package var fix: String?
    }

    /// One account's checks, up to the first failure.
    package struct AccountReport: Encodable, Sendable {
        package var name: String
        package var ok: Bool
        package var checks: [Check]
    }

    /// Every account's report.
    package struct Report: Encodable, Sendable {
        package var ok: Bool
        package var accounts: [AccountReport]
        /// The config's problems when it does not load (then there are no accounts).
        package var config: Check?
        /// The file compared with what the running sidecar applies (``compareWithRunning(at:)``).
        package var running: Check?
    }

    let configuration: SidecarConfiguration
    let environment: [String: String]
    let pipeline: HTTPPipelineOptions
    let logger: Logger

    package init(
        configuration: SidecarConfiguration, environment: [String: String], pipeline: HTTPPipelineOptions,
        logger: Logger = Logger(label: "doctor", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.configuration = configuration
        self.environment = environment
        self.pipeline = pipeline
        self.logger = logger
    }

    /// The report of a config that does not load.
    package static func configFailure(_ problems: String) -> Report {
        Report(
            ok: false, accounts: [],
            config: Check(
                hop: .config, outcome: .failed, summary: problems,
                fix: "fix each key named above (mr-token-sidecar validate shows the same)"),
            running: nil)
    }

    /// Checks the accounts (all, or the one named).
    package func run(account name: String? = nil) async -> Report {
        let factory = CredentialFactory(environment: environment, pipeline: pipeline)
        var reports: [AccountReport] = []
        for account in configuration.accounts where name == nil || account.name.value == name {
            reports.append(await check(account, factory: factory))
        }
        return Report(ok: reports.allSatisfy(\.ok), accounts: reports, config: nil, running: nil)
    }

    /// The checks of one account, stopping at the first failure.
    func check(_ account: AccountConfiguration, factory: CredentialFactory) async -> AccountReport {
        var checks = [
            Check(
                hop: .config, outcome: .ok,
                summary:
                    "valid: account \(account.accountId.value) at \(account.accountDomain), credential \(account.credential.type.rawValue)",
                fix: nil)
        ]
        func report() -> AccountReport {
            AccountReport(name: account.name.value, ok: !checks.contains { $0.outcome == .failed }, checks: checks)
        }
        for step in [secrets, serviceAccountToken] {
            checks += step(account)
            if checks.contains(where: { $0.outcome == .failed }) { return report() }
        }
        checks += await reach(account)
        if checks.contains(where: { $0.outcome == .failed }) { return report() }
        checks += await exchange(account, factory: factory)
        if checks.contains(where: { $0.outcome == .failed }) { return report() }
        checks += outputs(account)
        return report()
    }

    // MARK: 0. The running sidecar

    /// The probe address of the sidecar running next to this doctor: the config's
    /// `server.address` (or `MR_TOKEN_SIDECAR_SERVER_ADDRESS`), on loopback when it listens on
    /// every address; `nil` when the server is disabled or on port 0.
    package var runningAddress: String? {
        guard let (host, port) = configuration.server.hostAndPort, port != 0 else { return nil }
        let local = ["0.0.0.0", "::", ""].contains(host) ? "127.0.0.1" : host
        return local.contains(":") ? "[\(local)]:\(port)" : "\(local):\(port)"
    }

    /// Compares where the file sends secrets with where the sidecar answering `/status` at
    /// `address` (`host:port`) does: a reload that changes it is refused, so a difference is a
    /// change the running sidecar did not take, and that `doctor`, like the sidecar's next
    /// restart, applies. `nil` when there is no address.
    package func compareWithRunning(at address: String?) async -> Check? {
        guard let address, let url = URL(string: "http://\(address)/status") else { return nil }
        var options = pipeline
        options.retry = RetryOptions(maxRetries: 0)
        options.perTryTimeout = .seconds(3)
        options.environment = environment
        let body: [UInt8]
        do {
            let response = try await HTTPPipeline(options: options, component: "doctor").send(
                PipelineRequest(
                    method: .GET, url: url, transport: .plainHTTPAllowed, operation: "doctor.running"),
                logger: logger)
            guard response.status == 200 else {
                return Check(
                    hop: .running, outcome: .warning,
                    summary: "the sidecar at \(address) answered /status with HTTP \(response.status)",
                    fix: "run doctor in the sidecar's container (/status answers on loopback only)")
            }
            body = response.body
        } catch {
            return Check(
                hop: .running, outcome: .ok,
                summary: "no sidecar answers at \(address): the file is checked on its own", fix: nil)
        }
        guard let routes = JSON.decode(JSONValue.self, from: body)?.object?["secretRoutes"]?.object else {
            return Check(
                hop: .running, outcome: .warning,
                summary: "the sidecar at \(address) does not say where it sends secrets (an older version?)",
                fix: "compare the file with the one the sidecar started with")
        }
        let running = routes.compactMapValues(\.string)
        let file = configuration.secretRoutes
        let changes = SidecarConfiguration.routeChanges(from: running, to: file)
        guard !changes.isEmpty else {
            return Check(
                hop: .running, outcome: .ok,
                summary: "the file sends secrets where the sidecar at \(address) does", fix: nil)
        }
        func shown(_ value: String?) -> String { value.map { LogText.bounded($0, limit: 80) } ?? "(not set)" }
        let listed = changes.prefix(8).map { key in
            "\(LogText.bounded(key, limit: 80)): \(shown(running[key])) in use, \(shown(file[key])) in the file"
        }
        return Check(
            hop: .running, outcome: .warning,
            summary:
                "the file changes where secrets go from what the sidecar at \(address) applies: "
                + listed.joined(separator: "; ") + (changes.count > 8 ? "; and \(changes.count - 8) more" : "")
                + ". The sidecar refused this at reload; this doctor run and its next restart use the file",
            fix: "make sure the change is meant (who edited the ConfigMap?) before restarting the sidecar")
    }

    // MARK: 1. Secret files

    func secrets(_ account: AccountConfiguration) -> [Check] {
        let credential = account.credential
        func fail(_ summary: String, _ fix: String) -> [Check] {
            [Check(hop: .secrets, outcome: .failed, summary: summary, fix: fix)]
        }
        switch credential.source {
        case .accountKey(let files):
            var checks: [Check] = []
            for file in files {
                let key: String
                do {
                    key = try CredentialFactory.readKey(file)
                } catch {
                    return checks + fail(error.message, "mount the Secret holding the account key at \(file)")
                }
                let looksLikeKey =
                    key.count >= 20 && key.count <= 200
                    && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+/=-_".contains($0)) }
                if !looksLikeKey {
                    return checks
                        + fail(
                            "\(file) does not hold an account key (\(key.count) characters, or characters a key has not)",
                            "copy key 1 or key 2 from the account's Access keys in the Azure portal, with no quotes or line break"
                        )
                }
                checks.append(
                    Check(
                        hop: .secrets, outcome: .ok, summary: "\(file): an account key of \(key.count) characters",
                        fix: nil))
            }
            return checks
        case .clientSecret(_, let file):
            do {
                let secret = try SecretFile.read(file, what: "the secret file", credential: "clientSecret")
                return [
                    Check(
                        hop: .secrets, outcome: .ok, summary: "\(file): a secret of \(secret.count) characters",
                        fix: nil)
                ]
            } catch {
                return fail("\(error)", "mount the Secret holding the client secret at \(file)")
            }
        case .clientCertificate(_, let file, _):
            do {
                let certificate = try ClientCertificateCredential.inspect(path: file)
                let now = Date()
                if certificate.notValidAfter < now {
                    return fail(
                        "\(file): the certificate \(certificate.subject) expired on \(TokenFileFormat.rfc3339(certificate.notValidAfter))",
                        "upload a new certificate to the app registration and put it, with its key, in the file")
                }
                if certificate.notValidBefore > now {
                    return fail(
                        "\(file): the certificate is not valid before \(TokenFileFormat.rfc3339(certificate.notValidBefore))",
                        "check the clock, or wait")
                }
                let days = Int(certificate.notValidAfter.timeIntervalSince(now) / 86400)
                return [
                    Check(
                        hop: .secrets, outcome: days < 14 ? .warning : .ok,
                        summary:
                            "\(file): the certificate \(certificate.subject) (thumbprint \(certificate.thumbprint)) and its key match; \(days) days left",
                        fix: days < 14 ? "renew the certificate before it expires" : nil)
                ]
            } catch {
                return fail(
                    "\((error as? AzureIdentityError)?.message ?? "\(error)")",
                    "give the certificate and its unencrypted key in PEM")
            }
        case .workloadIdentity, .managedIdentity, .default:
            return []
        }
    }

    // MARK: 2. The projected service-account token

    /// The audience Entra ID expects of a federated token.
    static let federatedAudience = "api://AzureADTokenExchange"

    func serviceAccountToken(_ account: AccountConfiguration) -> [Check] {
        let credential = account.credential
        let configured: String?
        switch credential.source {
        case .workloadIdentity(_, let tokenFile): configured = tokenFile
        case .default: configured = nil
        default: return []
        }
        let file = configured ?? environment["AZURE_FEDERATED_TOKEN_FILE"]
        guard let file, !file.isEmpty else {
            return credential.type == .default
                ? []
                : [
                    Check(
                        hop: .serviceAccountToken, outcome: .failed,
                        summary: "no token file: AZURE_FEDERATED_TOKEN_FILE is not set",
                        fix:
                            "label the pod azure.workload.identity/use: \"true\" and annotate its ServiceAccount with azure.workload.identity/client-id"
                    )
                ]
        }
        func fail(_ summary: String, _ fix: String) -> [Check] {
            [Check(hop: .serviceAccountToken, outcome: .failed, summary: summary, fix: fix)]
        }
        let text: String
        do {
            text = try SecretFile.read(file, what: "the service-account token file", credential: "workloadIdentity")
        } catch {
            return fail(
                "\(error)",
                "the pod must mount Azure Workload Identity's projected token (the azure.workload.identity/use label)")
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(String(parts[1])),
            let claims = JSON.decode(JSONValue.self, from: payload)?.object
        else {
            return fail("\(file) does not hold a JWT", "mount the projected service-account token, not another file")
        }
        let issuer = claims["iss"]?.string ?? "?"
        let subject = claims["sub"]?.string ?? "?"
        let audiences = claims["aud"]?.string.map { [$0] } ?? claims["aud"]?.array?.compactMap(\.string) ?? []
        let expiry = claims["exp"]?.number.map { Date(timeIntervalSince1970: $0) }
        let federated =
            "the app's federated credential must say: issuer \(issuer), subject \(subject), audience \(Self.federatedAudience)"
        if !audiences.contains(Self.federatedAudience) {
            return fail(
                "\(file): the token's audience is \(audiences.joined(separator: ", ")), not \(Self.federatedAudience)",
                "project the token with audience \(Self.federatedAudience) (Azure Workload Identity does)")
        }
        if let expiry, expiry <= Date() {
            return fail(
                "\(file): the token expired on \(TokenFileFormat.rfc3339(expiry))",
                "the kubelet refreshes projected tokens: check that the file is the projected volume's, not a copy")
        }
        if subject.wholeMatch(of: /system:serviceaccount:[^:]+:[^:]+/) == nil {
            return fail("\(file): the subject \(subject) is not a service account's", "mount the pod's projected token")
        }
        return [Check(hop: .serviceAccountToken, outcome: .ok, summary: federated, fix: nil)]
    }

    // MARK: 3. Name resolution, TCP and TLS, the server's clock

    func hosts(_ account: AccountConfiguration) -> [(what: String, url: URL)] {
        var hosts: [(String, URL)] = []
        let credential = account.credential
        if [.workloadIdentity, .clientSecret, .clientCertificate, .default].contains(credential.type) {
            let authority =
                credential.authorityHost ?? environment["AZURE_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 }
                ?? "https://login.microsoftonline.com/"
            if let url = URL(string: authority), url.host != nil { hosts.append(("Entra ID", url)) }
        }
        let sts = account.endpoint ?? "https://sts.\(account.accountDomain)"
        if let url = URL(string: sts), url.host != nil { hosts.append(("the STS", url)) }
        return hosts
    }

    /// Resolves and reaches each host the account talks to, and compares the server's clock.
    func reach(_ account: AccountConfiguration) async -> [Check] {
        var checks: [Check] = []
        var options = pipeline
        options.retry = RetryOptions(maxRetries: 0)
        options.perTryTimeout = .seconds(10)
        options.environment = environment
        let pipeline: HTTPPipeline
        do {
            pipeline = try HTTPPipeline(options: options, component: "doctor")
        } catch {
            return [Check(hop: .network, outcome: .failed, summary: error.message, fix: FailureAdvice(error).fix)]
        }
        for (what, url) in hosts(account) {
            guard let host = url.host else { continue }
            let root = URL(string: "\(url.scheme ?? "https")://\(url.host!)\(url.port.map { ":\($0)" } ?? "")/")!
            let request = PipelineRequest(method: .GET, url: root, operation: "doctor.reach")
            let proxy = pipeline.proxy(for: request)
            if proxy == nil, !IPAddressRule.isValid(host), !Self.resolves(host) {
                checks.append(
                    Check(
                        hop: .network, outcome: .failed, summary: "\(host) (\(what)) does not resolve",
                        fix: "check the pod's DNS, or the host name (accountDomain, endpoint, authorityHost)"))
                return checks
            }
            let started = ContinuousClock.now
            do {
                let response = try await pipeline.send(request, logger: logger)
                let elapsed = Int((ContinuousClock.now - started).milliseconds)
                let via = proxy.map { " through the proxy \($0.display)" } ?? ""
                var check = Check(
                    hop: .network, outcome: .ok,
                    summary: "\(host) (\(what)) answers over TLS\(via) in \(elapsed) ms", fix: nil)
                if let header = response.headers.first(name: "date"), let date = HTTPDate.parse(header) {
                    let skew = Int(date.timeIntervalSinceNow.rounded())
                    if abs(skew) > 300 {
                        checks.append(
                            Check(
                                hop: .network, outcome: .failed,
                                summary: "\(host)'s clock differs from this machine's by \(skew) s",
                                fix: "fix the node's clock (NTP): tokens and assertions are valid for minutes"))
                        return checks
                    }
                    if abs(skew) > 60 {
                        check.outcome = .warning
                        check.summary += "; its clock differs from this machine's by \(skew) s"
                        check.fix = "check the node's clock (NTP)"
                    }
                }
                checks.append(check)
            } catch {
                let advice = FailureAdvice(error)
                checks.append(
                    Check(
                        hop: .network, outcome: .failed, summary: "\(host) (\(what)): \(error.message)",
                        fix: advice.fix))
                return checks
            }
        }
        return checks
    }

    static func resolves(_ host: String) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, "443", &hints, &result)
        if let result { freeaddrinfo(result) }
        return status == 0
    }

    // MARK: 4 and 5. The Entra ID and STS exchanges

    func exchange(_ account: AccountConfiguration, factory: CredentialFactory) async -> [Check] {
        var checks: [Check] = []
        let credential = account.credential
        let client: MixedRealityStsClient
        let key: AzureKeyCredential?
        do {
            (client, key) = try factory.client(for: account)
        } catch {
            return checks + [
                advice(FailureAdvice(SidecarError.typed(error)))
            ]
        }
        if credential.type != .accountKey {
            do {
                let entra = try factory.entraCredential(for: credential)
                let scope = credential.scope ?? MixedRealityStsClientOptions.defaultAuthenticationScope
                let token = try await entra.getToken(for: TokenRequestContext(scopes: [scope]), logger: logger)
                let minutes = Int(token.expiresOn.timeIntervalSinceNow / 60)
                checks.append(
                    Check(
                        hop: .entra, outcome: .ok, summary: "a token for \(scope), valid for \(minutes) more minutes",
                        fix: nil))
            } catch {
                var found = FailureAdvice(SidecarError.typed(error))
                if found.hop == .sts { found.hop = .entra }
                return checks + [advice(found)]
            }
        }
        // The refresh loop's own key-file fallback, each refusal shown.
        var refusals: [Check] = []
        do {
            let response: MixedRealityTokenResponse
            var used: KeyFileInUse?
            if let key {
                (response, used) = try await AccountKeyFallback.exchange(
                    client: client, credential: key, files: credential.accountKeyFiles, start: 0, logger: logger
                ) { file, _ in
                    refusals.append(
                        Check(
                            hop: .sts, outcome: .warning, summary: "\(file): refused (401); trying the next key",
                            fix: "copy the current key into \(file)"))
                }
            } else {
                response = try await client.getTokenResponse(logger: logger)
            }
            checks += refusals
            refusals = []
            let claims = try JWTExpiry.claims(of: response.accessToken.token)
            let hours = (claims.expiresOn.timeIntervalSince(claims.issuedAt ?? Date())) / 3600
            guard claims.accountId?.lowercased() == account.accountId.value else {
                return checks + [
                    Check(
                        hop: .sts, outcome: .failed,
                        summary:
                            "the STS answered a token of another account (\(claims.accountId.map { LogText.bounded($0, limit: 64) } ?? "none"))",
                        fix: "check accountId and the endpoint")
                ]
            }
            let keyNote = used.map { " with the key in \($0.path)" } ?? ""
            let second = (used?.index ?? 0) > 0
            checks.append(
                Check(
                    hop: .sts, outcome: second ? .warning : .ok,
                    summary:
                        "a Mixed Reality token\(keyNote) for account \(account.accountId.value), valid \(String(format2: hours)) h [MS-CV \(response.msCV ?? "none")]",
                    fix: second ? "the first key of keyFiles was refused: rotate it back in, or reorder keyFiles" : nil)
            )
            return checks
        } catch {
            var found = FailureAdvice(
                SidecarError.typed(error), credential: credential.type)
            if found.hop == .entra && credential.type == .accountKey { found.hop = .sts }
            return checks + refusals + [advice(found)]
        }
    }

    func advice(_ advice: FailureAdvice) -> Check {
        Check(
            hop: advice.hop, outcome: .failed, summary: advice.line.components(separatedBy: ". Fix: ")[0],
            fix: advice.fix)
    }

    // MARK: 6. The output folders

    func outputs(_ account: AccountConfiguration) -> [Check] {
        var checks: [Check] = []
        for output in account.outputs {
            let folder = AtomicFileSink.split(output.path).directory
            guard PathProbe.isDirectory(folder) else {
                checks.append(
                    Check(
                        hop: .output, outcome: .failed, summary: "\(folder) is not a folder",
                        fix: "mount the shared volume (an emptyDir with medium: Memory) at \(folder)"))
                return checks
            }
            guard
                PathProbe.canCreateFile(
                    in: folder, named: ".mr-token-sidecar-doctor-\(ProcessInfo.processInfo.processIdentifier)")
            else {
                checks.append(
                    Check(
                        hop: .output, outcome: .failed, summary: "\(folder) is not writable by this process",
                        fix: "mount the volume read-write in the sidecar (read-only in the app's containers)"))
                return checks
            }
            var notes: [String] = []
            var outcome = Check.Outcome.ok
            var fixes: [String] = []
            if let type = PathProbe.fileSystemType(folder), !PathProbe.memoryFileSystems.contains(type) {
                outcome = .warning
                notes.append("not in memory (the token lands on a disk)")
                fixes.append("use an emptyDir with medium: Memory")
            } else {
                notes.append("in memory")
            }
            let mode = output.mode.bits
            if mode & 0o044 == 0 && output.owner == nil {
                outcome = .warning
                notes.append("mode \(output.mode) lets only the sidecar's user read it")
                fixes.append("use mode \"0440\" with the pod's fsGroup, so the app reads it through the group")
            }
            if let existing = PathProbe.attributes(output.path) {
                notes.append(
                    "the file is there (mode \(String(existing.mode, radix: 8)), owner \(existing.owner), group \(existing.group))"
                )
            }
            checks.append(
                Check(
                    hop: .output, outcome: outcome,
                    summary: "\(output.path): writable, \(notes.joined(separator: ", "))",
                    fix: fixes.isEmpty ? nil : fixes.joined(separator: "; ")))
        }
        return checks
    }

    // MARK: Output

    /// The report for people: one line per check, `ok`, `warn` or `FAIL`, and the fix under it.
    package static func text(_ report: Report) -> String {
        var text = ""
        if let config = report.config {
            text += "config   FAIL  \(config.summary)\n         fix:  \(config.fix ?? "")\n"
        }
        if let running = report.running {
            text += "running  \(running.outcome == .ok ? "ok  " : "warn")  \(running.summary)\n"
            if let fix = running.fix { text += "         fix:  \(fix)\n" }
        }
        for account in report.accounts {
            text += "\(account.name): \(account.ok ? "ok" : "FAILED")\n"
            for check in account.checks {
                let mark =
                    switch check.outcome {
                    case .ok: "ok  "
                    case .warning: "warn"
                    case .failed: "FAIL"
                    }
                text += "  \(mark)  \(check.hop.rawValue.padding(21)) \(check.summary)\n"
                if let fix = check.fix { text += "        \("".padding(21)) fix: \(fix)\n" }
            }
        }
        text += report.ok ? "every hop of every account works\n" : "a hop failed: see FAIL above\n"
        return text
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    fileprivate init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        self = "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}
