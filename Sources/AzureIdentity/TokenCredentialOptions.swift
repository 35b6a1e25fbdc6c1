public import AzureCore

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// Options shared by the Entra ID credentials.
public struct TokenCredentialOptions: Sendable {
    /// The public cloud's authority host.
    public static let publicCloudAuthorityHost = "https://login.microsoftonline.com"

    /// The Entra authority host (optional; default `AZURE_AUTHORITY_HOST`, then the public cloud).
    /// Must be https.
    public var authorityHost: String?
    /// HTTP settings: retries, timeouts, extra CA bundle.
    public var pipeline: HTTPPipelineOptions
    /// The environment the `AZURE_*` defaults are read from (default: the process's).
    public var environment: [String: String]?
    /// The clock (tests pass a manual one).
    package var now: @Sendable () -> Date = { Date() }

    /// Creates options.
    /// - Parameters:
    ///   - authorityHost: Authority host override (optional).
    ///   - pipeline: HTTP settings.
    ///   - environment: Environment override (optional).
    public init(
        authorityHost: String? = nil,
        pipeline: HTTPPipelineOptions = HTTPPipelineOptions(),
        environment: [String: String]? = nil
    ) {
        self.authorityHost = authorityHost
        self.pipeline = pipeline
        self.environment = environment
    }

    var resolvedEnvironment: [String: String] { environment ?? ProcessInfo.processInfo.environment }

    /// The authority host: option, then `AZURE_AUTHORITY_HOST`, then the public cloud; https only.
    func resolveAuthorityHost(credential: String) throws -> URL {
        let text =
            authorityHost ?? resolvedEnvironment["AZURE_AUTHORITY_HOST"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.publicCloudAuthorityHost
        let source = authorityHost != nil ? "authorityHost" : "AZURE_AUTHORITY_HOST"
        guard var url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else {
            throw AzureIdentityError(
                .invalidArgument, credential: credential, "\(source) \"\(LogText.bounded(text))\" is not a URL")
        }
        guard url.user == nil, url.password == nil else {
            throw AzureIdentityError(
                .invalidArgument, credential: credential,
                "\(source) must not carry user info (user@host): give an https:// URL such as \(Self.publicCloudAuthorityHost)"
            )
        }
        guard
            scheme == "https"
                || (scheme == "http" && pipeline.allowInsecureLoopbackHTTP && HTTPPipeline.isLoopback(host))
        else {
            throw AzureIdentityError(
                .invalidArgument, credential: credential,
                "\(source) \"\(LogText.bounded(text))\" must be an https:// URL, such as \(Self.publicCloudAuthorityHost)"
            )
        }
        while url.path.hasSuffix("/") && url.path.count > 1 { url.deleteLastPathComponent() }
        return url
    }
}

/// Tenant id checks as the Azure SDKs do them.
enum TenantId {
    /// Throws unless the tenant id is letters, digits, `-` and `.` only.
    static func validate(_ tenantId: String, credential: String, source: String) throws {
        guard !tenantId.isEmpty else {
            throw AzureIdentityError(
                .invalidArgument, credential: credential, "\(source) is empty: give the Entra tenant id")
        }
        guard TenantIdRule.isValid(tenantId) else {
            throw AzureIdentityError(
                .invalidArgument, credential: credential,
                "\(source) \"\(tenantId.prefix(100))\" is not a tenant id: use letters, digits, '-' and '.' only (a GUID or a domain)"
            )
        }
    }
}
