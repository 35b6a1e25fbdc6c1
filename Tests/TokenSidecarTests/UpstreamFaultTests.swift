import AzureCore
import Foundation
import MixedRealityAuthentication
import STSEmulator
import TestSupport
import Testing

@Suite("Upstream faults against the running sidecar", Reliability.heavySuite)
struct UpstreamFaultTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var faults: [Fault]
        /// The `mr.result` of the failed attempt.
        var result: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a burst of 503", faults: [Fault(endpoint: .sts, count: 8, status: 503)], result: "service_error"),
        Case(
            name: "429 with Retry-After", faults: [Fault(endpoint: .sts, count: 4, status: 429, retryAfter: "1")],
            result: "throttled"),
        Case(
            name: "500 with an HTML body",
            faults: [
                Fault(
                    endpoint: .sts, count: 4, status: 500,
                    body: "<html><body><h1>500 Internal Server Error</h1></body></html>")
            ],
            result: "service_error"),
        Case(
            name: "200 with malformed JSON", faults: [Fault(endpoint: .sts, body: #"{"AccessToken": "#)],
            result: "bad_response"),
        Case(
            name: "a token that is not a JWT", faults: [Fault(endpoint: .sts, token: .notJWT)], result: "bad_response"),
        Case(name: "an already-expired token", faults: [Fault(endpoint: .sts, token: .expired)], result: "bad_token"),
        Case(
            name: "a token with exp in the year 9999", faults: [Fault(endpoint: .sts, token: .farFuture)],
            result: "bad_token"),
        Case(
            name: "a token without the account id claim", faults: [Fault(endpoint: .sts, token: .noAccountId)],
            result: "bad_token"),
        Case(
            name: "a dropped connection", faults: [Fault(endpoint: .sts, count: 4, dropConnection: true)],
            result: "transport"),
        Case(
            name: "a 100 MB body",
            faults: [
                Fault(endpoint: .sts, body: #"{"AccessToken": ""# + String(repeating: "A", count: 100 << 20) + #""}"#)
            ],
            // The read stops at the 1 MiB bound: the answer never arrives whole.
            result: "transport"),
    ]

    @Test("The old token stays untouched and the sidecar recovers by itself", arguments: cases)
    func fault(_ fault: Case) async throws {
        try await withSidecar(stsLifetime: 600) { harness in
            // Refresh at 0.1% of a 600 s lifetime: every 0.6 s, so the fault is met at once.
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.001\n  jitter: 0")
            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#))
            let path = harness.output("anchors")
            let first = try #require(harness.read(path))
            let firstExpiry = try JWTExpiry.expiry(of: first)
            for item in fault.faults { harness.fixture.emulator.inject(item) }
            #expect(
                await child.waitForStandardError(#""mr.result":"\#(fault.result)""#, timeout: .seconds(30)),
                "results seen: \(Set(child.standardError.components(separatedBy: #""mr.result":""#).dropFirst().map { $0.prefix(while: { $0 != "\"" }) }))"
            )
            // Whatever the fault, the file holds a whole token of this account, no older than the first.
            let during = try #require(harness.read(path))
            let claims = try JWTExpiry.claims(of: during)
            #expect(claims.accountId == harness.fixture.identities.accountId)
            #expect(claims.expiresOn >= firstExpiry)
            #expect(claims.expiresOn < Date().addingTimeInterval(86400 * 7))
            // Recovery: a later refresh succeeds without help.
            let refreshed = child.standardError.components(separatedBy: #""msg":"token refreshed""#).count - 1
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#, count: refreshed + 1))
            let after = try #require(harness.read(path))
            #expect(try JWTExpiry.expiry(of: after) > Date())
            if fault.result == "throttled" {
                // No request earlier than Retry-After allows.
                let times = harness.stsRequests(harness.fixture.identities.accountId).map(\.receivedAt)
                let throttled = harness.fixture.emulator.requests.filter { $0.endpoint == .sts && $0.status == 429 }
                for answer in throttled {
                    if let next = times.first(where: { $0 > answer.receivedAt }) {
                        #expect(
                            next.timeIntervalSince(answer.receivedAt) >= 0.95,
                            "a request \(next.timeIntervalSince(answer.receivedAt)) s after a 429 with Retry-After: 1")
                    }
                }
            }
            let peakKiB = statusKiB(child.processIdentifier, "VmHWM")
            #expect(peakKiB < 64 * 1024, "peak RSS \(peakKiB) KiB")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets(extra: [first, after]))
            Reliability.report(
                "fault \(fault.name)", ["result": fault.result, "peakRssKiB": peakKiB, "recovered": true])
        }
    }

    /// A JWT of the account whose payload parses (so that an expiry reader accepts it) but whose
    /// text holds `extra`: what a rogue STS or a MITM could answer.
    static func hostileToken(accountId: String, extra: String) -> String {
        let exp = Int(Date().timeIntervalSince1970) + 86400
        let payload = Base64URL.encode(Array(#"{"aid":"\#(accountId)","exp":\#(exp),"iat":\#(exp - 86400)}"#.utf8))
        return "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + payload + ".c2lnbmF0dXJl" + extra
    }

    @Test(
        "A token with shell syntax, a fourth part or a newline is refused before any write; the env file stays safe to source",
        arguments: [
            ";rm -rf /", "$(touch /tmp/mr-pwned)", ".fourth", "\nMIXED_REALITY_ACCESS_TOKEN=evil", "'; reboot; '",
        ]
    )
    func hostileTokens(extra: String) async throws {
        try await withSidecar(stsLifetime: 600) { harness in
            var account = harness.defaultAccount
            account.format = "env"
            try harness.writeConfig([account], refresh: "  at: 0.001\n  jitter: 0")
            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#))
            let path = harness.output("anchors", "env")
            let before = try #require(harness.read(path))
            let token = Self.hostileToken(accountId: harness.fixture.identities.accountId, extra: extra)
            harness.fixture.emulator.inject(
                Fault(
                    endpoint: .sts, count: 3, body: String(decoding: JSON.encode(["AccessToken": token]), as: UTF8.self)
                ))
            #expect(await child.waitForStandardError(#""mr.result":"bad_token""#, timeout: .seconds(30)))
            #expect(child.standardError.contains("is not a JWT"))
            let after = try #require(harness.read(path))
            #expect(!after.contains(extra.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(after.split(separator: "\n").count == 2)
            // Whatever is on disk, sourcing it runs nothing.
            let shell = try ChildProcess.startSystem("/bin/sh", ["-c", ". \"$1\"; echo sourced", "sh", path])
            #expect(await shell.exitStatus() == 0)
            #expect(shell.standardOutput == "sourced\n")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/mr-pwned"))
            _ = before
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }

    @Test("An STS answering with tokens already past their refresh point cannot make the loop spin")
    func noSpin() async throws {
        try await withSidecar(stsLifetime: 600) { harness in
            // Good tokens fall due after 0.6 s, so the loop is exchanging when the fault arrives.
            try harness.writeConfig([harness.defaultAccount], refresh: "  at: 0.001\n  jitter: 0")
            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#))
            // Issued a day ago, valid for another hour: due the moment it arrives. The harness's
            // minBackoff is 100 ms and maxBackoff 2 s; before the fix this drew 181 requests in 8 s.
            harness.fixture.emulator.inject(Fault(endpoint: .sts, count: 1000, token: .issuedLongAgo))
            let start = harness.stsRequests(harness.fixture.identities.accountId).count
            let refreshed = await child.waitForStandardError(#""msg":"token refreshed""#, count: 4)
            #expect(refreshed, "\(child.standardError.suffix(3000))")
            let window = ContinuousClock.now
            _ = await child.hasExited(within: .seconds(6))  // let it run: the point is what it does meanwhile
            let requests = harness.stsRequests(harness.fixture.identities.accountId).count - start
            #expect(requests <= 15, "\(requests) STS requests in about 6 s")
            #expect(ContinuousClock.now - window >= .seconds(6))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }
}
