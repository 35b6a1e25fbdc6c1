import AzureCore
import Crypto
import Foundation
import NIOHTTP1
import SwiftASN1
import TestSupport
import X509
import _CryptoExtras

@testable import STSEmulator

extension EmulatorFixture {
    var stsURL: String {
        "\(baseURL.absoluteString)/Accounts/\(identities.accountId)/token?api-version=2019-02-28-preview"
    }
    var tokenURL: String { "\(baseURL.absoluteString)/\(identities.tenantId)/oauth2/v2.0/token" }

    func sts(
        authorization: String? = nil, cv: String = "AAAAAAAAAAAAAAAAAAAAAA", accept: String? = "application/json",
        url: String? = nil
    ) async throws -> RawResponse {
        var headers: [(String, String)] = [("X-MRC-CV", cv)]
        if let accept { headers.append(("Accept", accept)) }
        headers.append(("Authorization", authorization ?? "Bearer \(identities.accountId):\(identities.accountKey)"))
        return try await rawRequest(.GET, url ?? stsURL, caFile: caFile, headers: headers)
    }

    func entra(_ fields: [(String, String)], tenant: String? = nil) async throws -> RawResponse {
        try await rawRequest(
            .POST, tenant.map { "\(baseURL.absoluteString)/\($0)/oauth2/v2.0/token" } ?? tokenURL, caFile: caFile,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("client-request-id", "corr-123")],
            body: formEncode(fields))
    }

    func clientCredentials(
        _ credential: [(String, String)], scope: String = "https://sts.mixedreality.azure.com//.default"
    )
        -> [(String, String)]
    {
        [("client_id", identities.clientId), ("grant_type", "client_credentials"), ("scope", scope)] + credential
    }

    func assertionFields(_ assertion: String) -> [(String, String)] {
        [
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ]
    }
}

/// The AADSTS code of an Entra error answer.
func aadsts(_ response: RawResponse) throws -> Int? {
    (try response.json()["error_codes"] as? [Int])?.first
}
