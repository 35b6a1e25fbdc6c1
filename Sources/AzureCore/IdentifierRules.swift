#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The rule for a Mixed Reality account id, shared by the client, the config and the injector: a
/// UUID, kept lowercase (it goes lowercase into the STS path and the account-key bearer value).
package enum AccountIdRule {
    /// The account id in lowercase, or `nil` when `text` (trimmed) is not a UUID.
    package static func normalized(_ text: String) -> String? {
        UUID(uuidString: text.trimmed)?.uuidString.lowercased()
    }

    /// How to fix a bad account id, for messages.
    package static let hint = "copy the account id from the Azure portal (8-4-4-4-12 hex digits)"
}

/// Tenant id checks as the Azure SDKs do them (`^[0-9a-zA-Z-.]+$`).
package enum TenantIdRule {
    /// Whether the tenant id is letters, digits, `-` and `.` only (and not empty).
    package static func isValid(_ tenantId: String) -> Bool {
        !tenantId.isEmpty
            && tenantId.unicodeScalars.allSatisfy {
                ("0"..."9").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || $0 == "-"
                    || $0 == "."
            }
    }
}

/// DNS host names (RFC 1123): what an account domain must be.
package enum HostNameRule {
    /// Whether `text` is a host name: dot-separated labels of letters, digits and `-`, none empty,
    /// none starting or ending with `-`, at most 63 characters each and 253 in all.
    /// - Parameters:
    ///   - text: The name.
    ///   - minimumLabels: How many labels it needs at least (2 for a domain such as
    ///     `mixedreality.azure.com`).
    package static func isValid(_ text: String, minimumLabels: Int = 1) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= minimumLabels
            && labels.allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                    && label.unicodeScalars.allSatisfy {
                        ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
                    }
            }
    }
}

/// IP address literals (`192.0.2.1`, `2001:db8::1`, `[::1]`), parsed by the C library.
package enum IPAddressRule {
    /// The address's bytes (4 or 16), or `nil` when `text` is not an IP literal.
    package static func bytes(_ text: String) -> [UInt8]? {
        var host = text
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    /// Whether `text` is an IP literal.
    package static func isValid(_ text: String) -> Bool { bytes(text) != nil }

    /// Whether `text` is a loopback address literal: `127.0.0.0/8` or `::1` (or `127.0.0.0/8`
    /// mapped into IPv6, as a dual-stack socket reports it). Names, even `localhost` or
    /// `127.example.com`, are not: what they resolve to is not ours to trust.
    package static func isLoopback(_ text: String) -> Bool {
        guard let bytes = bytes(text) else { return false }
        if bytes.count == 4 { return bytes[0] == 127 }
        if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
        return bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] && bytes[12] == 127
    }
}
