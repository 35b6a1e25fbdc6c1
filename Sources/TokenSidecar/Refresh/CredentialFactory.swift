package import AzureCore
import AzureIdentity
import MixedRealityAuthentication
package import SidecarConfig
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Builds each account's STS client. Accounts that use the same Entra identity share one
/// credential object, and so one Entra token.
package final class CredentialFactory: TokenSourceFactory {
    let environment: [String: String]
    let pipeline: HTTPPipelineOptions
    private let shared = Mutex<[String: any TokenCredential]>([:])

    package init(environment: [String: String], pipeline: HTTPPipelineOptions) {
        self.environment = environment
        var pipeline = pipeline
        // Every account's pipeline reads the proxy and log variables from this environment.
        pipeline.environment = environment
        self.pipeline = pipeline
    }

    /// The account's token source: its STS client and, for account keys, the key files read
    /// again before each exchange.
    package func tokenSource(for account: AccountConfiguration) throws -> any TokenSource {
        let (client, key) = try client(for: account)
        return StsTokenSource(client: client, accountKey: key.map { ($0, account.credential.accountKeyFiles) })
    }

    /// The client, and for account keys the credential whose key is refreshed from the key file
    /// before each exchange.
    func client(for account: AccountConfiguration) throws -> (MixedRealityStsClient, AzureKeyCredential?) {
        var options = MixedRealityStsClientOptions(customEndpointURL: account.endpoint, pipeline: pipeline)
        if let scope = account.credential.scope { options.authenticationScope = scope }
        if account.credential.type == .accountKey {
            // A placeholder until the first exchange reads the key file.
            let key = try AzureKeyCredential("unread")
            return (
                try MixedRealityStsClient(
                    accountId: account.accountId.value, accountDomain: account.accountDomain, credential: key,
                    options: options),
                key
            )
        }
        let credential = try self.credential(for: account.credential)
        return (
            try MixedRealityStsClient(
                accountId: account.accountId.value, accountDomain: account.accountDomain, credential: credential,
                options: options),
            nil
        )
    }

    /// The identity two accounts share when they authenticate the same way: the same source (kind,
    /// application, files, managed identity) and authority.
    static func identityKey(_ credential: CredentialConfiguration) -> String {
        "\(credential.source)|\(credential.authorityHost ?? "")"
    }

    /// The Entra ID credential of an account (shared with the accounts of the same identity).
    func entraCredential(for configuration: CredentialConfiguration) throws -> any TokenCredential {
        try credential(for: configuration)
    }

    private func credential(for configuration: CredentialConfiguration) throws -> any TokenCredential {
        let key = Self.identityKey(configuration)
        if let existing = shared.withLock({ $0[key] }) { return existing }
        let options = TokenCredentialOptions(
            authorityHost: configuration.authorityHost, pipeline: pipeline, environment: environment)
        func tenant(_ application: CredentialConfiguration.Application) -> String {
            application.tenantId ?? environment["AZURE_TENANT_ID"] ?? ""
        }
        func client(_ application: CredentialConfiguration.Application) -> String {
            application.clientId ?? environment["AZURE_CLIENT_ID"] ?? ""
        }
        let credential: any TokenCredential
        switch configuration.source {
        case .workloadIdentity(let application, let tokenFile):
            credential = try WorkloadIdentityCredential(
                tenantId: application.tenantId, clientId: application.clientId, tokenFilePath: tokenFile,
                options: options)
        case .clientSecret(let application, let secretFile):
            credential = try ClientSecretCredential(
                tenantId: tenant(application), clientId: client(application), clientSecretFile: secretFile,
                options: options)
        case .clientCertificate(let application, let certificateFile, let sendCertificateChain):
            credential = try ClientCertificateCredential(
                tenantId: tenant(application), clientId: client(application), certificatePath: certificateFile,
                sendCertificateChain: sendCertificateChain, options: options)
        case .managedIdentity(let identity):
            let identity: ManagedIdentityCredential.Identity =
                switch identity {
                case .clientId(let id): .clientId(id)
                case .objectId(let id): .objectId(id)
                case .resourceId(let id): .resourceId(id)
                case nil: .system
                }
            credential = try ManagedIdentityCredential(identity: identity, options: options)
        case .default(let application):
            credential = try DefaultAzureCredential(
                managedIdentity: application.clientId.map { .clientId($0) }, options: options)
        case .accountKey:
            throw SidecarError(.configuration, "account keys are not token credentials")
        }
        return shared.withLock { shared in
            if let raced = shared[key] { return raced }
            shared[key] = credential
            return credential
        }
    }

    /// Forgets the credentials no account uses any more.
    package func retain(_ accounts: [AccountConfiguration]) {
        let keep = Set(accounts.map { Self.identityKey($0.credential) })
        shared.withLock { $0 = $0.filter { keep.contains($0.key) } }
    }

    /// Reads an account key file (re-read at each exchange: Kubernetes rotates Secrets in place).
    package static func readKey(_ path: String) throws(SidecarError) -> String {
        do {
            return try SecretFile.read(path, what: "the key file", credential: "accountKey")
        } catch {
            throw SidecarError(
                .secretFile, (error as? AzureIdentityError)?.message ?? "cannot read the key file \(path)")
        }
    }
}
