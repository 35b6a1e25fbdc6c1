import AzureCore
import Logging
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Posts client-credentials requests to the Entra v2 token endpoint and reads the answer.
struct EntraClient: Sendable {
    let credentialName: String
    let tenantId: String
    let clientId: String
    let authorityHost: URL
    let pipeline: HTTPPipeline
    let now: @Sendable () -> Date

    init(credentialName: String, tenantId: String, clientId: String, options: TokenCredentialOptions) throws {
        try TenantId.validate(tenantId, credential: credentialName, source: "tenantId")
        guard !clientId.isEmpty else {
            throw AzureIdentityError(
                .invalidArgument, credential: credentialName, "clientId is empty: give the application (client) id")
        }
        self.credentialName = credentialName
        self.tenantId = tenantId
        self.clientId = clientId
        self.authorityHost = try options.resolveAuthorityHost(credential: credentialName)
        do {
            var pipelineOptions = options.pipeline
            pipelineOptions.environment = options.resolvedEnvironment
            self.pipeline = try HTTPPipeline(options: pipelineOptions, component: "identity")
        } catch {
            throw AzureIdentityError(
                .invalidArgument, credential: credentialName, "options.pipeline: \(error.message)", cause: error)
        }
        self.now = options.now
    }

    /// The token endpoint (`oauth2/token` for ADFS).
    var tokenURL: URL {
        authorityHost.appending(path: tenantId).appending(
            path: tenantId.lowercased() == "adfs" ? "oauth2/token" : "oauth2/v2.0/token")
    }

    /// Requests a token with the given credential fields (`client_secret` or `client_assertion`...).
    /// - Parameter freshCredentialFields: Builds the fields again for each retry (a signed
    ///   assertion is good for one request); `nil`: retries send `credentialFields` again.
    func requestToken(
        context: TokenRequestContext, credentialFields: [(String, String)],
        freshCredentialFields: (@Sendable () throws -> [(String, String)])? = nil, logger: Logger
    ) async throws -> AccessToken {
        let clientId = clientId
        let base = [
            ("client_id", clientId), ("grant_type", "client_credentials"),
            ("scope", context.scopes.joined(separator: " ")),
        ]
        let claims = context.claims.flatMap { $0.isEmpty ? nil : [("claims", $0)] } ?? []
        let fields = base + credentialFields + claims
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        headers.add(name: "Accept", value: "application/json")
        let correlationId = UUID().uuidString.lowercased()
        headers.add(name: "client-request-id", value: correlationId)
        headers.add(name: "return-client-request-id", value: "true")
        var request = PipelineRequest(
            method: .POST, url: tokenURL, headers: headers, body: Array(FormEncoding.encode(fields).utf8),
            operation: "entra.token")
        if let freshCredentialFields {
            request.bodyForRetry = { Array(FormEncoding.encode(base + (try freshCredentialFields()) + claims).utf8) }
        }
        var logger = logger
        logger[metadataKey: LogKeys.credential] = "\(credentialName)"
        logger[metadataKey: LogKeys.clientId] = "\(clientId)"
        logger[metadataKey: LogKeys.tenantId] = "\(tenantId)"
        let requestedAt = now()
        let response = try await send(request, logger: logger, correlationId: correlationId)
        return try TokenResponseParser(credential: credentialName, correlationId: correlationId)
            .parse(response, requestedAt: requestedAt, logger: logger)
    }

    func send(_ request: PipelineRequest, logger: Logger, correlationId: String?) async throws -> PipelineResponse {
        do {
            return try await pipeline.send(request, logger: logger)
        } catch {
            throw AzureIdentityError(
                error.code == .insecureTransport || error.code == .invalidArgument ? .invalidArgument : .transport,
                credential: credentialName, "the token request to \(request.url.host ?? "") failed: \(error.message)",
                correlationId: correlationId, isRetriable: error.isRetriable, cause: error)
        }
    }
}

/// Reads Entra and managed identity token answers.
struct TokenResponseParser {
    let credential: String
    let correlationId: String?

    private struct Success: Decodable {
        var access_token: String?
        var expires_in: FlexibleNumber?
        var expires_on: FlexibleNumber?
        var refresh_in: FlexibleNumber?
    }

    private struct Failure: Decodable {
        var error: String?
        var error_description: String?
        var error_codes: [Int]?
        var trace_id: String?
        var correlation_id: String?
        var message: String?
    }

    func parse(
        _ response: PipelineResponse, requestedAt: Date, logger: Logger, halfLifeRefresh: Bool = false
    ) throws
        -> AccessToken
    {
        guard response.status == 200 else { throw failure(response, logger: logger) }
        guard let body = try? JSONDecoder().decode(Success.self, from: Data(response.body)),
            let token = body.access_token, !token.isEmpty
        else {
            throw AzureIdentityError(
                .badResponse, credential: credential, "the token answer has no access_token", httpStatus: 200,
                correlationId: correlationId, isRetriable: true)
        }
        let expiresOn: Date
        if let on = body.expires_on?.date {
            expiresOn = on
        } else if let seconds = body.expires_in?.seconds {
            expiresOn = requestedAt.addingTimeInterval(seconds)
        } else {
            throw AzureIdentityError(
                .badResponse, credential: credential, "the token answer has neither expires_in nor expires_on",
                httpStatus: 200, correlationId: correlationId, isRetriable: true)
        }
        guard expiresOn > requestedAt else {
            throw AzureIdentityError(
                .badResponse, credential: credential, "the token answer is already expired", httpStatus: 200,
                correlationId: correlationId, isRetriable: true)
        }
        var refreshOn: Date?
        if let refreshIn = body.refresh_in?.seconds, refreshIn > 0 {
            refreshOn = requestedAt.addingTimeInterval(refreshIn)
        } else if halfLifeRefresh, expiresOn.timeIntervalSince(requestedAt) > 2 * 3600 {
            refreshOn = requestedAt.addingTimeInterval(expiresOn.timeIntervalSince(requestedAt) / 2)
        }
        return AccessToken(token: token, expiresOn: expiresOn, refreshOn: refreshOn)
    }

    func failure(_ response: PipelineResponse, logger: Logger) -> AzureIdentityError {
        let body = try? JSONDecoder().decode(Failure.self, from: Data(response.body))
        let codes = body?.error_codes ?? Self.codes(in: body?.error_description ?? "")
        // Text from the answer reaches logs, doctor's report and the termination message: escaped
        // and bounded here, where it enters.
        let firstLine = (body?.error_description ?? body?.message)?.split(whereSeparator: \.isNewline).first.map {
            LogText.bounded($0, limit: 300)
        }
        let entraError = body?.error.map { LogText.bounded($0, limit: 80) }
        let retriable = response.status == 429 || response.status >= 500 || codes.contains(700_024)
        let message: String
        if let entraError {
            message = "Entra ID refused the request (\(entraError))" + (firstLine.map { ": \($0)" } ?? "")
        } else if let firstLine {
            message = "the endpoint answered \(response.status): \(firstLine)"
        } else {
            message = "the endpoint answered \(response.status) without an error description"
        }
        let error = AzureIdentityError(
            .authenticationFailed, credential: credential, message, httpStatus: response.status,
            entraError: entraError, aadstsCodes: codes, traceId: body?.trace_id.map { LogText.bounded($0, limit: 64) },
            correlationId: body?.correlation_id.map { LogText.bounded($0, limit: 64) } ?? correlationId,
            retryAfter: response.retryAfter,
            isRetriable: retriable)
        logger.debug(
            "token request refused",
            metadata: [
                LogKeys.status: .integer(response.status), LogKeys.errorType: "\(entraError ?? "")",
                LogKeys.entraTraceId: "\(error.traceId ?? "")",
                LogKeys.entraCorrelationId: "\(error.correlationId ?? "")",
            ])
        return error
    }

    /// `AADSTS<digits>` codes in a text.
    static func codes(in text: String) -> [Int] {
        var codes: [Int] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: "AADSTS") {
            let digits = rest[range.upperBound...].prefix(while: \.isNumber)
            if let code = Int(digits) { codes.append(code) }
            rest = rest[range.upperBound...]
        }
        return codes
    }
}

/// A JSON number or numeric string (IMDS sends numbers as strings); `expires_on` may also be a date.
struct FlexibleNumber: Decodable {
    let number: Double?
    let text: String?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Double.self) {
            number = value
            text = nil
        } else {
            let value = try container.decode(String.self)
            number = Double(value.trimmed)
            text = value
        }
    }

    var seconds: TimeInterval? { number }

    /// Epoch seconds, or an ISO 8601 / `M/d/yyyy h:mm:ss a +00:00` date as some endpoints send.
    var date: Date? {
        if let number { return Date(timeIntervalSince1970: number) }
        guard let text else { return nil }
        return try? Date(text, strategy: .iso8601)
    }
}

/// `application/x-www-form-urlencoded` encoding.
enum FormEncoding {
    static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
