// Gets a Mixed Reality access token the three ways the Azure SDKs' samples show: with the
// account key, with an Entra ID credential (DefaultAzureCredential), or by passing a ready token
// through. Run it against Azure or against the emulator with environment variables:
//
//   MR_ACCOUNT_ID, MR_ACCOUNT_DOMAIN          the account (from the Azure portal)
//   MR_ACCOUNT_KEY                            account-key: a key of the account
//   AZURE_TENANT_ID, AZURE_CLIENT_ID, ...     entra: whatever DefaultAzureCredential reads
//   MR_ACCESS_TOKEN                           passthrough: a Mixed Reality token obtained elsewhere
//   MR_STS_ENDPOINT, MR_CA_FILE               optional: another STS (the emulator) and its CA
//
//   mr-example-get-token account-key | entra | passthrough
//
// It prints the token's account, length and expiry, never the token: hand the token to a Mixed
// Reality client (Spatial Anchors, Remote Rendering) instead of printing it.

import AzureCore
import AzureIdentity
import Logging
import MixedRealityAuthentication

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let environment = ProcessInfo.processInfo.environment
let way = CommandLine.arguments.dropFirst().first ?? ""

func required(_ name: String) -> String {
    guard let value = environment[name], !value.isEmpty else {
        FileHandleOutput.error("set \(name): see the comment at the top of Examples/GetToken/main.swift\n")
        exit(2)
    }
    return value
}

/// Standard error without Foundation's FileHandle.
enum FileHandleOutput {
    static func error(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }
}

let accountId = required("MR_ACCOUNT_ID")
let accountDomain = required("MR_ACCOUNT_DOMAIN")
var pipeline = HTTPPipelineOptions(applicationId: "mr-example-get-token")
pipeline.additionalTrustedCAFile = environment["MR_CA_FILE"]
let options = MixedRealityStsClientOptions(customEndpointURL: environment["MR_STS_ENDPOINT"], pipeline: pipeline)

do {
    let client: MixedRealityStsClient
    switch way {
    case "account-key":
        // 1. The account key: simplest, for a service you run; the key never leaves it.
        client = try MixedRealityStsClient(
            accountId: accountId, accountDomain: accountDomain,
            credential: try AzureKeyCredential(required("MR_ACCOUNT_KEY")), options: options)
    case "entra":
        // 2. An Entra ID identity with a role on the account (Spatial Anchors Account Reader...):
        //    workload identity, a service principal, a managed identity, or your developer login.
        let credential = try DefaultAzureCredential(
            options: TokenCredentialOptions(
                authorityHost: environment["AZURE_AUTHORITY_HOST"], pipeline: pipeline, environment: environment))
        client = try MixedRealityStsClient(
            accountId: accountId, accountDomain: accountDomain, credential: credential, options: options)
    case "passthrough":
        // 3. A token obtained elsewhere (a token vending service, the sidecar's file): used as it is,
        //    no STS call.
        let token = required("MR_ACCESS_TOKEN")
        let ready = StaticTokenCredential(AccessToken(token: token, expiresOn: try JWTExpiry.expiry(of: token)))
        client = try MixedRealityStsClient(
            accountId: accountId, accountDomain: accountDomain, credential: ready, options: options)
    default:
        FileHandleOutput.error("usage: mr-example-get-token account-key | entra | passthrough\n")
        exit(2)
    }
    let token = try await client.getToken()
    let claims = try JWTExpiry.claims(of: token.token)
    print(
        "a Mixed Reality token for account \(claims.accountId ?? accountId): \(token.token.count) characters, expires \(token.expiresOn.formatted(.iso8601))"
    )
} catch let error as any AzureError {
    FileHandleOutput.error("\(error.metricLabel): \(error.message)\n")
    exit(1)
}
