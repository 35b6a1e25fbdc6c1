import AzureCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What an endpoint answers, before faults shape it.
struct Answer: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// Why a request was refused (for the log; never a secret).
    var reason: String?

    static func json(
        _ status: Int, _ value: some Encodable, headers: [(String, String)] = [], reason: String? = nil
    )
        -> Answer
    {
        Answer(
            status: status, headers: [("Content-Type", "application/json; charset=utf-8")] + headers,
            body: JSON.encode(value), reason: reason)
    }
}

/// The parts of a request the endpoint logic needs.
struct Incoming: Sendable {
    var method: String
    var path: String
    var query: [String: String]
    var rawQuery: String?
    var headers: [RecordedRequest.Header]
    var body: [UInt8]
    var authority: String?

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var form: [String: String] { FormCoding.decode(String(decoding: body, as: UTF8.self)) }
}

/// `application/x-www-form-urlencoded` decoding.
enum FormCoding {
    static func decode(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0]) else { continue }
            result[name] = parts.count > 1 ? percentDecode(parts[1]) ?? "" : ""
        }
        return result
    }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

struct DroppedConnection: Error {}

extension STSEmulator {
    static let maxRequestBody = 64 * 1024

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        // The root answers, as real hosts do: a client checking reachability (the doctor) gets a status.
        router.get("/") { _, _ in Self.jsonResponse(.ok, ["service": "mr-sts-emulator"]) }
        router.get("/Accounts/:accountId/token") { request, context in
            try await self.serve(.sts, request, context) { incoming in
                self.stsToken(incoming, accountId: context.parameters.get("accountId") ?? "")
            }
        }
        router.post("/:tenant/oauth2/v2.0/token") { request, context in
            try await self.serve(.entra, request, context) { incoming in
                self.entraToken(incoming, tenant: context.parameters.get("tenant") ?? "")
            }
        }
        router.get("/:tenant/v2.0/.well-known/openid-configuration") { request, context in
            try await self.serve(.entra, request, context) { incoming in
                self.openIDConfiguration(incoming, tenant: context.parameters.get("tenant") ?? "")
            }
        }
        router.get("/metadata/identity/oauth2/token") { request, context in
            try await self.serve(.managedIdentity, request, context) { self.imdsToken($0) }
        }
        router.get("/msi/token") { request, context in
            try await self.serve(.managedIdentity, request, context) { self.appServiceToken($0) }
        }
        addAdminRoutes(to: router)
        return router
    }

    /// Reads the request, applies a queued fault, runs the endpoint and records the exchange.
    private func serve(
        _ endpoint: EmulatorEndpoint,
        _ request: Request,
        _ context: BasicRequestContext,
        _ handler: @Sendable (Incoming) -> Answer
    ) async throws -> Response {
        let receivedAt = Date()
        state.begin()
        defer { state.end() }
        let body = try await request.body.collect(upTo: Self.maxRequestBody)
        let rawQuery = request.uri.query
        let incoming = Incoming(
            method: request.method.rawValue,
            path: request.uri.path,
            query: FormCoding.decode(rawQuery ?? ""),
            rawQuery: rawQuery,
            headers: request.headers.map { RecordedRequest.Header(name: $0.name.rawName, value: $0.value) },
            body: Array(buffer: body),
            authority: request.head.authority
        )
        let fault = state.takeFault(for: endpoint)
        if let delay = fault?.delayMs, delay > 0 {
            try await Task.sleep(for: .milliseconds(delay))
        }
        var answer: Answer
        if fault?.dropConnection == true {
            answer = Answer(status: 0, reason: "fault: connection dropped")
        } else if let fault, let code = fault.aadstsCode {
            answer = entraError(
                fault.status ?? 400, error: code == 700024 ? "invalid_client" : "invalid_request", code: code,
                "Injected fault.", incoming: incoming)
        } else if let fault, let status = fault.status {
            answer = faultAnswer(status: status, endpoint: endpoint, fault: fault)
        } else {
            answer = handler(incoming)
            if let fault, answer.status == 200 {
                answer = applyTokenFault(fault, to: answer, endpoint: endpoint, incoming: incoming)
            }
        }
        if let retryAfter = fault?.retryAfter { answer.headers.append(("Retry-After", retryAfter)) }
        if endpoint == .sts { answer.headers.append(("MS-CV", CV.random(length: 22) + ".0")) }
        state.record(
            RecordedRequest(
                sequence: 0, receivedAt: receivedAt, endpoint: endpoint, method: incoming.method, path: incoming.path,
                query: rawQuery, headers: incoming.headers, form: endpoint == .entra ? incoming.form : [:],
                status: answer.status, faulted: fault != nil, reason: answer.reason
            ))
        logger.info(
            "emulator request",
            metadata: [
                "endpoint": "\(endpoint.rawValue)", "path": "\(incoming.path)", "status": "\(answer.status)",
                "faulted": "\(fault != nil)", "reason": "\(answer.reason ?? "")",
            ])
        var fields = HTTPFields()
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields.append(HTTPField(name: fieldName, value: value)) }
        }
        if answer.status == 0 {
            // Send a head promising a body, then close: the client sees the connection dropped.
            fields[.contentLength] = "1024"
            return Response(
                status: .ok, headers: fields,
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "{\"Acc"))
                    throw DroppedConnection()
                })
        }
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    private func faultAnswer(status: Int, endpoint: EmulatorEndpoint, fault: Fault) -> Answer {
        if let body = fault.body {
            return Answer(
                status: status, headers: [("Content-Type", "text/html")], body: Array(body.utf8), reason: "fault")
        }
        switch endpoint {
        case .sts:
            var answer = Answer(status: status, reason: "fault")
            answer.headers.append(("WWW-Authenticate", "Injected fault: status \(status)"))
            return answer
        case .entra, .managedIdentity, .other:
            return .json(
                status,
                ["error": "temporarily_unavailable", "error_description": "Injected fault: status \(status)"],
                reason: "fault")
        }
    }

    private func applyTokenFault(
        _ fault: Fault, to answer: Answer, endpoint: EmulatorEndpoint, incoming: Incoming
    )
        -> Answer
    {
        var answer = answer
        if let body = fault.body {
            answer.body = Array(body.utf8)
            answer.reason = "fault: body replaced"
            return answer
        }
        guard let kind = fault.token else { return answer }
        let token: String
        switch kind {
        case .notJWT:
            token = "Sanitized"
        case .expired, .farFuture, .shortLived, .issuedLongAgo, .noAccountId:
            let lifetime =
                switch kind {
                case .expired: -3600
                case .shortLived: 60
                case .issuedLongAgo, .noAccountId: 3600
                default: Int(253_402_214_400 - Date().timeIntervalSince1970)
                }
            let accountId = incoming.path.split(separator: "/").dropFirst().first.map(String.init) ?? ""
            token =
                (try? mintMixedRealityToken(
                    accountId: accountId, lifetime: lifetime, issuedAgo: kind == .issuedLongAgo ? 86400 : nil,
                    includeAccountId: kind != .noAccountId)) ?? "Sanitized"
        }
        answer.reason = "fault: token \(kind.rawValue)"
        switch endpoint {
        case .sts:
            answer.body = JSON.encode(["AccessToken": token])
        default:
            answer.body = JSON.encode([
                "token_type": "Bearer", "access_token": token, "expires_in": kind == .expired ? "-3600" : "3599",
            ])
        }
        return answer
    }

    // MARK: Mixed Reality STS

    func stsToken(_ incoming: Incoming, accountId: String) -> Answer {
        func refuse(_ status: Int, _ prefix: String, _ reason: String) -> Answer {
            Answer(status: status, headers: [("WWW-Authenticate", "\(prefix): \(reason)")], reason: reason)
        }
        guard incoming.query["api-version"] == "2019-02-28-preview" else {
            return refuse(400, "Invalid request", "api-version must be 2019-02-28-preview")
        }
        guard let accept = incoming.header("Accept"),
            accept.split(separator: ",").contains(where: {
                let type = $0.split(separator: ";")[0].filter { !$0.isWhitespace }
                return type == "application/json" || type == "*/*"
            })
        else {
            return refuse(400, "Invalid request", "Accept must allow application/json")
        }
        guard let cv = incoming.header("X-MRC-CV"), cv.count == 22, cv.allSatisfy({ CV.alphabet.contains($0) }) else {
            return refuse(400, "Invalid request", "X-MRC-CV must be 22 characters of the base64 alphabet")
        }
        guard let uuid = UUID(uuidString: accountId) else {
            return refuse(400, "Invalid request", "the account id in the path is not a UUID")
        }
        guard let account = accounts[uuid] else {
            return refuse(401, "Invalid token", "unknown account")
        }
        guard let authorization = incoming.header("Authorization"), authorization.hasPrefix("Bearer "),
            authorization.count > 7
        else {
            return refuse(401, "Invalid token", "no bearer token")
        }
        let credential = String(authorization.dropFirst(7))
        if credential.split(separator: ".", omittingEmptySubsequences: false).count == 3 {
            if let problem = checkEntraToken(credential, for: account) {
                return refuse(401, "Invalid token", problem)
            }
        } else {
            let parts = credential.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, UUID(uuidString: String(parts[0])) == uuid else {
                return refuse(401, "Invalid token", "the bearer value is neither <accountId>:<key> nor a JWT")
            }
            guard account.accountKeys.contains(String(parts[1])) else {
                return refuse(401, "Invalid token", "wrong account key")
            }
        }
        let token: String
        do {
            token = try mintMixedRealityToken(
                accountId: account.accountId, accountDomain: account.accountDomain,
                lifetime: configuration.stsTokenLifetimeSeconds)
        } catch {
            return Answer(status: 500, reason: "signing failed")
        }
        return .json(
            200, ["AccessToken": token],
            headers: [
                ("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"), ("X-Content-Type-Options", "nosniff"),
            ])
    }

    /// Why an Entra token does not authorize the account, or `nil` when it does.
    private func checkEntraToken(_ token: String, for account: EmulatorConfiguration.Account) -> String? {
        guard let jwt = try? ParsedJWT(token) else { return "the bearer token is not a well-formed JWT" }
        guard jwt.verify(rsa: entraKey.publicKey) else {
            return "the bearer token was not issued by this emulator's Entra ID"
        }
        guard let exp = jwt.time("exp"), exp > Date() else { return "the bearer token has expired" }
        let audiences = jwt.claims["aud"]?.strings ?? []
        guard audiences.contains(where: { Self.normalizeResource($0) == Self.stsResource }) else {
            return "the bearer token is not for the Mixed Reality STS (wrong audience)"
        }
        if let allowed = account.allowedClientIds {
            let appId = jwt.claims["appid"]?.string?.lowercased() ?? ""
            guard allowed.contains(where: { $0.lowercased() == appId }) else {
                return "the identity has no role on this account"
            }
        }
        return nil
    }

    static func normalizeResource(_ resource: String) -> String {
        var value = resource
        while value.hasSuffix("/") { value.removeLast() }
        return value.lowercased()
    }
}
