import AzureCore
import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension STSEmulator {
    /// `/admin/...`: the request log, fault injection, service-account tokens and the CA, for
    /// tests and demos that run the emulator as a separate program. Loopback only, like the rest.
    func addAdminRoutes(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in Self.jsonResponse(.ok, ["status": "ok"]) }
        router.get("/admin/requests") { _, _ in
            Self.jsonResponse(.ok, self.requests.map(\.redacted))
        }
        router.delete("/admin/requests") { _, _ in
            self.clearRequests()
            return Response(status: .noContent)
        }
        router.get("/admin/faults") { _, _ in Self.jsonResponse(.ok, self.pendingFaults) }
        router.get("/admin/stats") { _, _ in Self.jsonResponse(.ok, self.state.stats) }
        router.post("/admin/faults") { request, _ in
            let body = try await request.body.collect(upTo: Self.maxRequestBody)
            let data = Data(body.readableBytesView)
            let faults: [Fault]
            if let list = try? JSONDecoder().decode([Fault].self, from: data) {
                faults = list
            } else {
                do {
                    faults = [try JSONDecoder().decode(Fault.self, from: data)]
                } catch {
                    return Self.jsonResponse(.badRequest, ["error": "not a fault or a list of faults: \(error)"])
                }
            }
            faults.forEach(self.inject)
            return Self.jsonResponse(.ok, self.pendingFaults)
        }
        router.delete("/admin/faults") { _, _ in
            self.clearFaults()
            return Response(status: .noContent)
        }
        router.post("/admin/service-account-token") { request, _ in
            struct Ask: Decodable {
                var subject: String
                var audience: String?
                var lifetimeSeconds: Int?
            }
            let body = try await request.body.collect(upTo: Self.maxRequestBody)
            guard let ask = try? JSONDecoder().decode(Ask.self, from: Data(body.readableBytesView)) else {
                return Self.jsonResponse(
                    .badRequest, ["error": "give {\"subject\": ..., \"audience\"?, \"lifetimeSeconds\"?}"])
            }
            let token = try self.mintServiceAccountToken(
                subject: ask.subject, audience: ask.audience ?? Self.federatedAudience,
                lifetime: ask.lifetimeSeconds ?? 3600)
            return Self.jsonResponse(.ok, ["token": token])
        }
        router.post("/admin/echo") { request, _ in
            // A catcher for webhooks under test (token-rotation notifications): recorded, answered 204.
            let body = try await request.body.collect(upTo: Self.maxRequestBody)
            var recorded = RecordedRequest(
                sequence: 0, receivedAt: Date(), endpoint: .other, method: request.method.rawValue,
                path: request.uri.path,
                query: request.uri.query,
                headers: request.headers.map { RecordedRequest.Header(name: $0.name.rawName, value: $0.value) },
                form: [:],
                status: 204, faulted: false, reason: nil)
            recorded.body = String(decoding: body.readableBytesView, as: UTF8.self)
            self.state.record(recorded)
            return Response(status: .noContent)
        }
        router.get("/admin/ca.pem") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/x-pem-file"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: try self.caCertificatePEM)))
        }
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSON.encode(value))))
    }
}
