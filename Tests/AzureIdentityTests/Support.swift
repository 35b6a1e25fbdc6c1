import AzureCore
import Foundation
import MixedRealityAuthentication
import STSEmulator
import TestSupport

@testable import AzureIdentity

extension EmulatorFixture {
    /// Credential options pointing at the emulator's Entra endpoint, with `environment` as the
    /// whole environment (so tests never read the real one).
    func credentialOptions(environment: [String: String] = [:], clock: ManualClock? = nil) -> TokenCredentialOptions {
        var options = TokenCredentialOptions(
            authorityHost: baseURL.absoluteString, pipeline: pipelineOptions, environment: environment)
        if let clock { options.now = clock.now }
        return options
    }

    /// Buys a Mixed Reality token with the credential.
    func mixedRealityToken(with credential: any TokenCredential) async throws -> AccessToken {
        let client = try MixedRealityStsClient(
            accountId: identities.accountId, accountDomain: identities.accountDomain, credential: credential,
            options: MixedRealityStsClientOptions(customEndpointURL: baseURL.absoluteString, pipeline: pipelineOptions))
        return try await client.getToken()
    }

    var entraRequests: [RecordedRequest] { emulator.requests.filter { $0.endpoint == .entra } }
}

/// Writes a file atomically (as the kubelet swaps projected files).
func replace(_ path: String, with text: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
}
