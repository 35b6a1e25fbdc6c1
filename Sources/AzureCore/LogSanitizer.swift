package import NIOHTTP1

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// Decides what of a request or response may be logged: an allow-list of header names and query
/// parameters, as in the Azure SDKs. Everything else is replaced by `REDACTED`, so a header or
/// parameter added later is hidden until someone decides it is safe. Bodies are never logged.
package struct LogSanitizer: Sendable {
    package static let redacted = "REDACTED"

    package static let allowedHeaders: Set<String> = [
        "accept", "accept-encoding", "cache-control", "connection", "content-length", "content-type", "date",
        "etag", "expires", "last-modified", "pragma", "request-id", "retry-after", "retry-after-ms",
        "x-ms-retry-after-ms", "server", "traceparent", "transfer-encoding", "user-agent", "www-authenticate",
        "x-ms-client-request-id", "x-ms-request-id", "x-ms-return-client-request-id", "x-mrc-cv", "ms-cv",
        "mise-correlation-id", "metadata", "x-content-type-options", "strict-transport-security",
        "client-request-id", "x-ms-ests-server", "x-ms-correlation-id",
    ]
    package static let allowedQueryParameters: Set<String> = [
        "api-version", "resource", "client_id", "object_id", "msi_res_id", "mi_res_id",
    ]

    package init() {}

    /// The URL with disallowed query values replaced.
    package func sanitize(url: URL) -> String {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else {
            return Self.redacted
        }
        components.user = nil
        components.password = nil
        components.fragment = nil
        if let items = components.queryItems {
            components.queryItems = items.map { item in
                Self.allowedQueryParameters.contains(item.name.lowercased())
                    ? item : URLQueryItem(name: item.name, value: Self.redacted)
            }
        }
        return components.string ?? Self.redacted
    }

    /// The headers as `name: value` pairs with disallowed values replaced.
    package func sanitize(headers: HTTPHeaders) -> String {
        headers.map { name, value in
            "\(name): \(Self.allowedHeaders.contains(name.lowercased()) ? value : Self.redacted)"
        }.joined(separator: ", ")
    }
}
