import AzureCore
import Foundation
import NIOHTTP1
import TestSupport
import Testing

@testable import STSEmulator

@Suite("Emulator: faults, request log and admin endpoints")
struct FaultAndAdminTests {
    @Test("a fault applies to its endpoint for exactly count answers, in order")
    func faultCounting() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .entra, status: 500))
            fixture.emulator.inject(Fault(endpoint: .sts, count: 2, status: 503, retryAfter: "1"))
            fixture.emulator.inject(Fault(endpoint: .sts, token: .expired))
            let first = try await fixture.sts()
            #expect(first.status == 503)
            #expect(first.headers.first(name: "Retry-After") == "1")
            #expect(try await fixture.sts().status == 503)
            let expired = try await fixture.sts()
            #expect(expired.status == 200)
            let token = try #require(try expired.json()["AccessToken"] as? String)
            let exp = try #require(try ParsedJWT(token).time("exp"))
            #expect(exp < Date())
            #expect(try await fixture.sts().status == 200)
            #expect(fixture.emulator.pendingFaults == [Fault(endpoint: .entra, status: 500)])
            #expect(fixture.emulator.requests.map(\.faulted) == [true, true, true, false])
        }
    }

    @Test("token faults: not a JWT, exp in 9999; body faults replace the answer")
    func tokenFaults() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, token: .notJWT))
            fixture.emulator.inject(Fault(endpoint: .sts, token: .farFuture))
            fixture.emulator.inject(Fault(endpoint: .sts, status: 500, body: "<html>oops</html>"))
            #expect(try await fixture.sts().json()["AccessToken"] as? String == "Sanitized")
            let far = try #require(try await fixture.sts().json()["AccessToken"] as? String)
            #expect(try ParsedJWT(far).time("exp")! > Date(timeIntervalSince1970: 253_000_000_000))
            let html = try await fixture.sts()
            #expect(html.status == 500)
            #expect(html.text == "<html>oops</html>")
        }
    }

    @Test("an Entra fault answers with the AADSTS code asked for")
    func aadstsFault() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .entra, aadstsCode: 700_024))
            let response = try await fixture.entra(
                fixture.clientCredentials([("client_secret", fixture.identities.clientSecret)]))
            #expect(response.status == 400)
            #expect(try aadsts(response) == 700_024)
        }
    }

    @Test("the admin endpoints queue faults, show the redacted log and mint service-account tokens")
    func adminEndpoints() async throws {
        let subject = "system:serviceaccount:demo:app"
        try await withEmulator(configure: { $0.applications[0].federatedCredentials = [.init(subject: subject)] }) {
            fixture in
            let base = fixture.baseURL.absoluteString
            let queued = try await rawRequest(
                .POST, "\(base)/admin/faults", caFile: fixture.caFile,
                body: #"[{"endpoint": "sts", "count": 1, "status": 503}, {"endpoint": "any", "delayMs": 1}]"#)
            #expect(queued.status == 200)
            #expect(fixture.emulator.pendingFaults.count == 2)
            #expect(try await fixture.sts().status == 503)
            #expect(try await fixture.sts().status == 200)
            let bad = try await rawRequest(
                .POST, "\(base)/admin/faults", caFile: fixture.caFile, body: #"{"endpoint": "moon"}"#)
            #expect(bad.status == 400)

            let minted = try await rawRequest(
                .POST, "\(base)/admin/service-account-token", caFile: fixture.caFile,
                body: #"{"subject": "\#(subject)"}"#)
            let assertion = try #require(try minted.json()["token"] as? String)
            #expect(
                try await fixture.entra(fixture.clientCredentials(fixture.assertionFields(assertion))).status == 200)

            let log = try await rawRequest(.GET, "\(base)/admin/requests", caFile: fixture.caFile)
            #expect(log.status == 200)
            #expect(log.text.contains("Bearer <redacted account-key>"))
            expectNoSecret([fixture.identities.accountKey, assertion], in: log.text, "the emulator's log")
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(log.body)) as? [[String: Any]])
            #expect(entries.count == 3)

            #expect(try await rawRequest(.DELETE, "\(base)/admin/requests", caFile: fixture.caFile).status == 204)
            #expect(fixture.emulator.requests.isEmpty)
            #expect(fixture.emulator.totalRequests == 3)
            let ca = try await rawRequest(.GET, "\(base)/admin/ca.pem", caFile: fixture.caFile)
            #expect(ca.text == (try fixture.emulator.caCertificatePEM))
        }
    }

    @Test("waitForRequests resumes once the count is reached, or says the timeout passed")
    func waitForRequests() async throws {
        try await withEmulator { fixture in
            async let waited = fixture.emulator.waitForRequests(count: 2)
            _ = try await fixture.sts()
            _ = try await fixture.sts()
            #expect(await waited)
            #expect(fixture.emulator.totalRequests == 2)
            #expect(await fixture.emulator.waitForRequests(count: 3, timeout: .milliseconds(50)) == false)
        }
    }
}
