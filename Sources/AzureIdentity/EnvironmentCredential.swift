public import AzureCore
public import Logging

/// Authenticates with the application named by environment variables, as the Azure SDKs'
/// `EnvironmentCredential`: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET`
/// (client secret); else `AZURE_CLIENT_CERTIFICATE_PATH` (client certificate, with
/// `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`). Username and password are not supported.
public struct EnvironmentCredential: TokenCredential, CustomStringConvertible {
    static let name = "EnvironmentCredential"
    let inner: Result<any TokenCredential, AzureIdentityError>

    /// Creates the credential. It never throws: a missing configuration is reported by
    /// ``getToken(for:logger:)`` as `credentialUnavailable`, naming the missing variables.
    /// - Parameter options: Authority host, HTTP options and the environment.
    public init(options: TokenCredentialOptions = .init()) {
        let environment = options.resolvedEnvironment
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let tenant = value("AZURE_TENANT_ID")
        let client = value("AZURE_CLIENT_ID")
        let secret = value("AZURE_CLIENT_SECRET")
        let certificate = value("AZURE_CLIENT_CERTIFICATE_PATH")
        guard let tenant, let client, secret != nil || certificate != nil else {
            let missing = [
                tenant == nil ? "AZURE_TENANT_ID" : nil, client == nil ? "AZURE_CLIENT_ID" : nil,
                secret == nil && certificate == nil ? "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH" : nil,
            ].compactMap { $0 }
            inner = .failure(
                .unavailable(Self.name, "environment variables not set: \(missing.joined(separator: ", "))"))
            return
        }
        do {
            if let secret {
                inner = .success(
                    try ClientSecretCredential(
                        tenantId: tenant, clientId: client, clientSecret: secret, options: options))
            } else if let certificate {
                let chain = ["1", "true"].contains(value("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")?.lowercased() ?? "")
                inner = .success(
                    try ClientCertificateCredential(
                        tenantId: tenant, clientId: client, certificatePath: certificate, sendCertificateChain: chain,
                        options: options))
            } else {
                inner = .failure(.unavailable(Self.name, "no secret or certificate configured"))
            }
        } catch let error as AzureIdentityError {
            var wrapped = error
            wrapped.credential = Self.name
            inner = .failure(wrapped)
        } catch {
            inner = .failure(.unavailable(Self.name, "\(error)"))
        }
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        try await inner.get().getToken(for: context, logger: logger)
    }

    public var description: String {
        switch inner {
        case .success(let credential): "EnvironmentCredential(\(credential))"
        case .failure: "EnvironmentCredential(unavailable)"
        }
    }
}
