import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension STSEmulator {
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    /// An answer in Entra's error shape.
    func entraError(_ status: Int, error: String, code: Int, _ message: String, incoming: Incoming) -> Answer {
        let traceId = UUID().uuidString.lowercased()
        let correlationId = incoming.header("client-request-id") ?? UUID().uuidString.lowercased()
        let timestamp = Date().formatted(.iso8601)
        let description =
            "AADSTS\(code): \(message)\r\nTrace ID: \(traceId)\r\nCorrelation ID: \(correlationId)\r\nTimestamp: \(timestamp)"
        let body: [String: JSONValue] = [
            "error": .string(error), "error_description": .string(description),
            "error_codes": .array([.number(Double(code))]),
            "timestamp": .string(timestamp), "trace_id": .string(traceId), "correlation_id": .string(correlationId),
            "error_uri": .string("https://login.microsoftonline.com/error?code=\(code)"),
        ]
        return .json(
            status, body, headers: [("Cache-Control", "no-store, no-cache"), ("x-ms-request-id", traceId)],
            reason: "AADSTS\(code)")
    }

    /// `GET /{tenant}/v2.0/.well-known/openid-configuration`: the tenant discovery document MSAL
    /// fetches before its first token request.
    func openIDConfiguration(_ incoming: Incoming, tenant: String) -> Answer {
        guard configuration.applications.contains(where: { $0.tenantId.lowercased() == tenant.lowercased() }) else {
            return entraError(
                400, error: "invalid_tenant", code: 90002, "Tenant '\(tenant)' not found.", incoming: incoming)
        }
        let base = "https://\(incoming.authority ?? "login.microsoftonline.com")/\(tenant)"
        let document: [String: JSONValue] = [
            "token_endpoint": .string("\(base)/oauth2/v2.0/token"),
            "authorization_endpoint": .string("\(base)/oauth2/v2.0/authorize"),
            "issuer": .string("\(base)/v2.0"),
            "jwks_uri": .string("\(base)/discovery/v2.0/keys"),
            "token_endpoint_auth_methods_supported": .array([
                "client_secret_post", "private_key_jwt", "client_secret_basic",
            ]),
            "response_types_supported": .array(["code", "id_token", "code id_token", "id_token token"]),
            "tenant_region_scope": "EU",
        ]
        return .json(200, document)
    }

    /// `POST /{tenant}/oauth2/v2.0/token`: client credentials with a secret, a certificate
    /// assertion or a federated (workload identity) assertion.
    func entraToken(_ incoming: Incoming, tenant: String) -> Answer {
        func fail(_ status: Int, _ error: String, _ code: Int, _ message: String) -> Answer {
            entraError(status, error: error, code: code, message, incoming: incoming)
        }
        let applications = configuration.applications.filter { $0.tenantId.lowercased() == tenant.lowercased() }
        guard !applications.isEmpty else {
            return fail(400, "invalid_tenant", 90002, "Tenant '\(tenant)' not found.")
        }
        guard incoming.header("Content-Type")?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true
        else {
            return fail(400, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
        }
        let form = incoming.form
        for name in ["grant_type", "client_id", "scope"] where (form[name] ?? "").isEmpty {
            return fail(
                400, "invalid_request", 900144, "The request body must contain the following parameter: '\(name)'.")
        }
        guard form["grant_type"] == "client_credentials" else {
            return fail(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        }
        let clientId = form["client_id"] ?? ""
        guard let application = applications.first(where: { $0.clientId.lowercased() == clientId.lowercased() }) else {
            return fail(
                400, "unauthorized_client", 700016,
                "Application with identifier '\(clientId)' was not found in the directory '\(tenant)'.")
        }
        let scope = form["scope"] ?? ""
        guard !scope.contains(" "), scope.hasSuffix("/.default") else {
            return fail(
                400, "invalid_scope", 1_002_012,
                "The provided value for scope \(scope) is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            )
        }
        let resource = String(scope.dropLast("/.default".count))
        guard Self.normalizeResource(resource) == Self.stsResource else {
            return fail(
                400, "invalid_resource", 500_011,
                "The resource principal named \(resource) was not found in the tenant named \(tenant).")
        }

        if let secret = form["client_secret"] {
            guard (application.clientSecrets ?? []).contains(secret) else {
                return fail(
                    401, "invalid_client", 7_000_215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(clientId)'."
                )
            }
        } else if let assertion = form["client_assertion"] {
            guard form["client_assertion_type"] == Self.assertionType else {
                return fail(400, "invalid_request", 50027, "client_assertion_type must be \(Self.assertionType).")
            }
            if let problem = checkAssertion(assertion, application: application, tenant: tenant, incoming: incoming) {
                return fail(problem.status, problem.error, problem.code, problem.message)
            }
        } else {
            return fail(
                401, "invalid_client", 7_000_218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        }
        let lifetime = configuration.entraTokenLifetimeSeconds
        guard
            let token = try? mintEntraToken(
                resource: resource, tenantId: application.tenantId, clientId: application.clientId, objectId: nil,
                lifetime: lifetime)
        else { return Answer(status: 500, reason: "signing failed") }
        let body: [String: JSONValue] = [
            "token_type": "Bearer", "expires_in": .number(Double(lifetime)),
            "ext_expires_in": .number(Double(lifetime)),
            "access_token": .string(token),
        ]
        return .json(200, body, headers: [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")])
    }

    struct AssertionProblem {
        var status = 401
        var error = "invalid_client"
        var code: Int
        var message: String
    }

    /// Why a client assertion is refused, or `nil` when it is good.
    private func checkAssertion(
        _ assertion: String, application: EmulatorConfiguration.Application, tenant: String, incoming: Incoming
    ) -> AssertionProblem? {
        guard let jwt = try? ParsedJWT(assertion) else {
            return AssertionProblem(code: 50027, message: "JWT token is invalid or malformed.")
        }
        let now = Date()
        let skew: TimeInterval = 300
        if let exp = jwt.time("exp") {
            if exp < now.addingTimeInterval(-skew) || (jwt.time("nbf") ?? now) > now.addingTimeInterval(skew) {
                return AssertionProblem(
                    code: 700_024, message: "Client assertion is not within its valid time range.")
            }
        } else {
            return AssertionProblem(code: 700_024, message: "Client assertion contains no expiration (exp).")
        }
        if jwt.header["x5t#S256"] != nil || jwt.header["x5t"] != nil {
            return checkCertificateAssertion(jwt, application: application, tenant: tenant, incoming: incoming)
        }
        return checkFederatedAssertion(jwt, application: application)
    }

    private func checkCertificateAssertion(
        _ jwt: ParsedJWT, application: EmulatorConfiguration.Application, tenant: String, incoming: Incoming
    ) -> AssertionProblem? {
        let registered = registeredCertificates(clientId: application.clientId)
        let sha256 = jwt.header["x5t#S256"]?.string
        let sha1 = jwt.header["x5t"]?.string
        guard
            let certificate = registered.first(where: {
                (sha256 != nil && $0.sha256Thumbprint == sha256) || (sha256 == nil && $0.sha1Thumbprint == sha1)
            })
        else {
            return AssertionProblem(
                code: 700_027,
                message:
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '\(sha256 ?? sha1 ?? "")']"
            )
        }
        guard certificate.verify(jwt) else {
            return AssertionProblem(
                code: 700_027,
                message: "Client assertion failed signature validation. [Reason - The signature is invalid.]")
        }
        let host = incoming.authority ?? "login.microsoftonline.com"
        let tokenURLs = [
            "https://\(host)/\(tenant)/oauth2/v2.0/token", "https://\(host)/\(application.tenantId)/oauth2/v2.0/token",
        ].map { $0.lowercased() }
        let audiences = jwt.claims["aud"]?.strings ?? []
        guard audiences.contains(where: { tokenURLs.contains($0.lowercased()) }) else {
            return AssertionProblem(
                code: 50013,
                message:
                    "Assertion failed signature validation. [Reason - The provided audience is not the token endpoint \(tokenURLs[0]).]"
            )
        }
        let clientId = application.clientId.lowercased()
        guard jwt.claims["iss"]?.string?.lowercased() == clientId, jwt.claims["sub"]?.string?.lowercased() == clientId
        else {
            return AssertionProblem(
                code: 700_021, message: "Client assertion application identifier doesn't match 'client_id' parameter.")
        }
        if let exp = jwt.time("exp"), let start = jwt.time("nbf") ?? jwt.time("iat"),
            exp.timeIntervalSince(start) > 3600
        {
            return AssertionProblem(code: 700_024, message: "Client assertion lifetime is longer than allowed.")
        }
        guard let jti = jwt.claims["jti"]?.string, !jti.isEmpty else {
            return AssertionProblem(code: 50027, message: "Client assertion has no jti claim.")
        }
        guard state.claimAssertionId(jti) else {
            return AssertionProblem(
                code: 50013, message: "Assertion failed validation. [Reason - The jti was used before (replay).]")
        }
        return nil
    }

    private func checkFederatedAssertion(
        _ jwt: ParsedJWT, application: EmulatorConfiguration.Application
    )
        -> AssertionProblem?
    {
        let issuer = jwt.claims["iss"]?.string ?? ""
        let records = (application.federatedCredentials ?? []).filter {
            ($0.issuer ?? configuration.federatedIssuer) == issuer
        }
        guard !records.isEmpty else {
            return AssertionProblem(
                status: 400, error: "invalid_request", code: 700_211,
                message: "No matching federated identity record found for presented assertion issuer '\(issuer)'.")
        }
        guard issuer == configuration.federatedIssuer, jwt.verify(rsa: serviceAccountKey.publicKey) else {
            return AssertionProblem(
                code: 50013, message: "Assertion failed signature validation. [Reason - The key was not found.]")
        }
        let subject = jwt.claims["sub"]?.string ?? ""
        let bySubject = records.filter { $0.subject == subject }
        guard !bySubject.isEmpty else {
            return AssertionProblem(
                status: 400, error: "invalid_request", code: 700_213,
                message: "No matching federated identity record found for presented assertion subject '\(subject)'.")
        }
        let audiences = jwt.claims["aud"]?.strings ?? []
        guard
            bySubject.contains(where: { record in
                audiences.contains(where: { (record.audiences ?? [Self.federatedAudience]).contains($0) })
            })
        else {
            return AssertionProblem(
                status: 400, error: "invalid_request", code: 700_212,
                message:
                    "No matching federated identity record found for presented assertion audience '\(audiences.joined(separator: ","))'."
            )
        }
        return nil
    }

    // MARK: Managed identity

    /// `GET /metadata/identity/oauth2/token` (IMDS, api-version 2018-02-01).
    func imdsToken(_ incoming: Incoming) -> Answer {
        func fail(_ status: Int, _ error: String, _ description: String) -> Answer {
            .json(status, ["error": error, "error_description": description], reason: description)
        }
        guard incoming.header("Metadata")?.lowercased() == "true" else {
            return fail(400, "invalid_request", "Required metadata header not specified")
        }
        guard let apiVersion = incoming.query["api-version"], !apiVersion.isEmpty else {
            return fail(400, "invalid_request", "Required query variable 'api-version' is missing")
        }
        guard apiVersion == "2018-02-01" || apiVersion == "2019-08-01" else {
            return fail(400, "invalid_request", "Invalid api-version \(apiVersion)")
        }
        return managedIdentityToken(
            incoming, selectors: ["client_id", "object_id", "msi_res_id"], fail: { fail(400, $0, $1) },
            stringNumbers: true)
    }

    /// `GET /msi/token` (App Service, api-version 2019-08-01, `X-IDENTITY-HEADER`).
    func appServiceToken(_ incoming: Incoming) -> Answer {
        func fail(_ status: Int, _ message: String) -> Answer {
            .json(
                status, ["statusCode": .number(Double(status)), "message": JSONValue.string(message)], reason: message)
        }
        guard let expected = configuration.identityHeader,
            incoming.header("X-IDENTITY-HEADER") == expected
        else {
            return fail(401, "The X-IDENTITY-HEADER header is missing or wrong.")
        }
        guard incoming.query["api-version"] == "2019-08-01" else {
            return fail(400, "api-version must be 2019-08-01.")
        }
        return managedIdentityToken(
            incoming, selectors: ["client_id", "principal_id", "mi_res_id"], fail: { fail(400, $1) },
            stringNumbers: true)
    }

    private func managedIdentityToken(
        _ incoming: Incoming, selectors: [String], fail: (String, String) -> Answer, stringNumbers: Bool
    ) -> Answer {
        guard let resource = incoming.query["resource"], !resource.isEmpty else {
            return fail("invalid_request", "Required query variable 'resource' is missing")
        }
        let given = selectors.compactMap { name in incoming.query[name].map { (name, $0) } }
        guard given.count <= 1 else {
            return fail("invalid_request", "Only one of \(selectors.joined(separator: ", ")) may be given")
        }
        let identities = configuration.managedIdentities
        let identity: EmulatorConfiguration.ManagedIdentity?
        if let (name, value) = given.first {
            identity = identities.first { candidate in
                switch name {
                case "client_id": candidate.clientId.lowercased() == value.lowercased()
                case "object_id", "principal_id": candidate.objectId?.lowercased() == value.lowercased()
                default: candidate.resourceId?.lowercased() == value.lowercased()
                }
            }
        } else if let system = identities.first(where: { $0.systemAssigned == true }) {
            identity = system
        } else if identities.count > 1 {
            return fail(
                "invalid_request",
                "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
            )
        } else {
            identity = identities.first
        }
        guard let identity else { return fail("invalid_request", "Identity not found") }
        guard Self.normalizeResource(resource) == Self.stsResource else {
            return fail(
                "invalid_resource",
                "AADSTS500011: The resource principal named \(resource) was not found in the tenant.")
        }
        let lifetime = configuration.managedIdentityTokenLifetimeSeconds
        let now = Int64(Date().timeIntervalSince1970)
        guard
            let token = try? mintEntraToken(
                resource: resource, tenantId: "00000000-0000-0000-0000-000000000000", clientId: identity.clientId,
                objectId: identity.objectId, lifetime: lifetime)
        else { return Answer(status: 500, reason: "signing failed") }
        let body: [String: JSONValue] = [
            "access_token": .string(token), "client_id": .string(identity.clientId),
            "expires_in": .string(String(lifetime)), "expires_on": .string(String(now + Int64(lifetime))),
            "ext_expires_in": .string(String(lifetime)), "not_before": .string(String(now)),
            "resource": .string(resource), "token_type": "Bearer",
        ]
        return .json(200, body)
    }
}
