#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
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
