package import AzureCore
package import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The pod's annotations that drive the injection, each checked with a message naming it.
///
/// Either `config-map` (a ConfigMap in the pod's namespace holding the whole sidecar config) or
/// `account-id` + `account-domain` (one account, with `credential` and `output-format`).
package struct InjectionRequest: Sendable, Hashable {
    package static let prefix = "mixedreality.azure.com/"
    package static let injectLabel = prefix + "inject"
    package static let statusAnnotation = prefix + "status"
    /// The release of mr-token-sidecar that injected the pod (``InjectorSettings/sidecarVersion``).
    package static let versionAnnotation = prefix + "sidecar-version"

    /// The annotation names (after the prefix) and what each accepts, for messages and docs.
    package enum Key: String, CaseIterable, Sendable {
        case configMap = "config-map"
        case accountId = "account-id"
        case accountDomain = "account-domain"
        case credential
        case outputFormat = "output-format"
        case containers
        case image
        case resources

        package var annotation: String { InjectionRequest.prefix + rawValue }
    }

    /// Credentials that need no file of their own, so that annotations can name them.
    package enum Credential: String, CaseIterable, Sendable {
        case workloadIdentity, managedIdentity
        case defaultChain = "default"
    }

    package enum Source: Sendable, Hashable {
        case configMap(String)
        case account(id: String, domain: String, credential: Credential, format: OutputConfiguration.Format)
    }

    package var source: Source
    /// The app containers that mount the token folder; `nil`: all of them.
    package var containers: [String]?
    package var image: String?
    package var resources: JSONValue?

    /// Reads the annotations.
    /// - Parameters:
    ///   - annotations: The pod's annotations.
    ///   - appContainers: The names of the pod's `containers`.
    /// - Returns: The request, or every problem, each naming its annotation.
    package static func parse(
        _ annotations: [String: String], appContainers: [String]
    ) -> Result<InjectionRequest, InjectionDenial> {
        var reader = AnnotationReader(annotations: annotations)
        reader.refuseUnknownKeys()
        let source = reader.source()
        let containers = reader.containers(of: appContainers)
        let image = reader.image()
        let resources = reader.resources()
        guard reader.problems.isEmpty, let source else {
            return .failure(InjectionDenial(reason: reader.problems.joined(separator: "; ")))
        }
        return .success(InjectionRequest(source: source, containers: containers, image: image, resources: resources))
    }

    /// `{"requests": {"cpu": "5m", "memory": "32Mi"}, "limits": {...}}`, each part optional.
    package static func parseResources(_ text: String) -> Result<JSONValue, InjectionDenial> {
        let example = #"such as {"requests":{"cpu":"5m","memory":"32Mi"},"limits":{"memory":"64Mi"}}"#
        guard text.utf8.count <= 4096, let value = try? JSONParser(maxDepth: 4, maxValues: 64).parse(Array(text.utf8)),
            let top = value.object
        else {
            return .failure(InjectionDenial(reason: "not a JSON object \(example)"))
        }
        for (section, body) in top.sorted(by: { $0.key < $1.key }) {
            guard ["requests", "limits"].contains(section) else {
                return .failure(
                    InjectionDenial(reason: "\"\(LogText.bounded(section, limit: 40))\" is not requests or limits"))
            }
            guard let entries = body.object else {
                return .failure(InjectionDenial(reason: "\(section) must be an object \(example)"))
            }
            for (resource, quantity) in entries.sorted(by: { $0.key < $1.key }) {
                guard ["cpu", "memory", "ephemeral-storage"].contains(resource) else {
                    return .failure(
                        InjectionDenial(
                            reason:
                                "\(section).\(LogText.bounded(resource, limit: 40)) is not cpu, memory or ephemeral-storage"
                        ))
                }
                guard let text = quantity.string, isQuantity(text) else {
                    return .failure(
                        InjectionDenial(
                            reason: "\(section).\(resource) must be a quantity string such as \"50m\" or \"64Mi\""))
                }
            }
        }
        return .success(value)
    }

    /// A Kubernetes quantity as people write them: digits, an optional fraction, a suffix.
    package static func isQuantity(_ text: String) -> Bool { Quantity.isValid(text) }

    package static func isDNSSubdomain(_ text: String) -> Bool {
        guard (1...253).contains(text.count) else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isDNSLabel)
    }

    static func isDNSLabel(_ label: Substring) -> Bool {
        guard (1...63).contains(label.count), label.first != "-", label.last != "-" else { return false }
        return label.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }
}

/// Why a pod is refused; the message goes back to whoever created the pod.
package struct InjectionDenial: Error, Sendable, Hashable {
    package var reason: String
}

/// Reads the annotations one concern at a time, collecting every problem.
private struct AnnotationReader {
    typealias Key = InjectionRequest.Key
    let annotations: [String: String]
    var problems: [String] = []

    init(annotations: [String: String]) {
        self.annotations = annotations
    }

    func value(_ key: Key) -> String? { annotations[key.annotation]?.trimmed }

    /// `mixedreality.azure.com/*` keys that are not ours: a typo would otherwise be ignored.
    mutating func refuseUnknownKeys() {
        let prefix = InjectionRequest.prefix
        let known = Set(Key.allCases.map(\.annotation)).union([
            InjectionRequest.statusAnnotation, InjectionRequest.versionAnnotation, InjectionRequest.injectLabel,
        ])
        let unknown = annotations.keys.filter { $0.hasPrefix(prefix) && !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            problems.append(
                "\(LogText.list(unknown)) \(unknown.count == 1 ? "is not an annotation" : "are not annotations") of"
                    + " mr-token-sidecar; the known ones are " + Key.allCases.map(\.annotation).joined(separator: ", "))
        }
    }

    /// Where the config comes from: a ConfigMap, or one account described by annotations.
    mutating func source() -> InjectionRequest.Source? {
        let single: [Key] = [.accountId, .accountDomain, .credential, .outputFormat]
        guard let name = value(.configMap) else { return account() }
        let extra = single.filter { value($0) != nil }
        if !extra.isEmpty {
            problems.append(
                "\(Key.configMap.annotation) names the whole config, so "
                    + extra.map(\.annotation).joined(separator: ", ")
                    + " must not be set as well: put the account in the ConfigMap, or drop \(Key.configMap.annotation)")
            return nil
        }
        guard InjectionRequest.isDNSSubdomain(name) else {
            problems.append(
                "\(Key.configMap.annotation): \"\(LogText.bounded(name, limit: 80))\" is not a ConfigMap name (lowercase letters, digits, '-' and '.', at most 253)"
            )
            return nil
        }
        return .configMap(name)
    }

    /// One account: `account-id`, `account-domain`, `credential`, `output-format`.
    private mutating func account() -> InjectionRequest.Source? {
        let id = value(.accountId)
        let domain = value(.accountDomain)
        if id == nil && domain == nil {
            problems.append(
                "the pod asks for injection (label \(InjectionRequest.injectLabel)) but names no account: set \(Key.configMap.annotation), or \(Key.accountId.annotation) and \(Key.accountDomain.annotation)"
            )
        }
        var accountId: String?
        if let id {
            accountId = AccountIdRule.normalized(id)
            if accountId == nil {
                problems.append(
                    "\(Key.accountId.annotation): \"\(LogText.bounded(id, limit: 80))\" is not a UUID: copy the account id from the Azure portal"
                )
            }
        } else if domain != nil {
            problems.append("\(Key.accountId.annotation) is missing: \(Key.accountDomain.annotation) needs it")
        }
        var host: String?
        if let domain {
            if HostNameRule.isValid(domain, minimumLabels: 2) {
                host = domain.lowercased()
            } else {
                problems.append(
                    "\(Key.accountDomain.annotation): \"\(LogText.bounded(domain, limit: 80))\" is not a domain such as eastus2.mixedreality.azure.com"
                )
            }
        } else if id != nil {
            problems.append(
                "\(Key.accountDomain.annotation) is missing: set it to the account's domain, such as eastus2.mixedreality.azure.com"
            )
        }
        let credential = self.credential()
        let format = self.format()
        guard let accountId, let host, let credential, let format else { return nil }
        return .account(id: accountId, domain: host, credential: credential, format: format)
    }

    private mutating func credential() -> InjectionRequest.Credential? {
        guard let text = value(.credential) else { return .workloadIdentity }
        if let parsed = InjectionRequest.Credential(rawValue: text) { return parsed }
        if ["accountKey", "clientSecret", "clientCertificate"].contains(text) {
            problems.append(
                "\(Key.credential.annotation): \(LogText.bounded(text, limit: 80)) needs a secret file: describe the account in a ConfigMap and name it with \(Key.configMap.annotation)"
            )
        } else {
            problems.append(
                "\(Key.credential.annotation): \"\(LogText.bounded(text, limit: 80))\" is not one of "
                    + InjectionRequest.Credential.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return nil
    }

    private mutating func format() -> OutputConfiguration.Format? {
        guard let text = value(.outputFormat) else { return .token }
        if let parsed = OutputConfiguration.Format(rawValue: text) { return parsed }
        problems.append(
            "\(Key.outputFormat.annotation): \"\(LogText.bounded(text, limit: 80))\" is not one of "
                + OutputConfiguration.Format.allCases.map(\.rawValue).joined(separator: ", "))
        return nil
    }

    /// The app containers that mount the tokens; `nil` for all of them.
    mutating func containers(of appContainers: [String]) -> [String]? {
        guard let text = value(.containers) else { return nil }
        let names = text.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
        let unknown = names.filter { !appContainers.contains($0) }
        if names.isEmpty {
            problems.append(
                "\(Key.containers.annotation) is empty: list app containers separated by commas, or drop it for all of them"
            )
        } else if !unknown.isEmpty {
            problems.append(
                "\(Key.containers.annotation) names \(LogText.list(unknown)), which the pod does not have; its containers are "
                    + LogText.list(appContainers))
        } else {
            return names
        }
        return nil
    }

    mutating func image() -> String? {
        guard let text = value(.image) else { return nil }
        if text.isEmpty || text.count > 512 || text.contains(where: { $0.isWhitespace }) {
            problems.append(
                "\(Key.image.annotation): \"\(LogText.bounded(text, limit: 80))\" is not an image reference")
            return nil
        }
        return text
    }

    mutating func resources() -> JSONValue? {
        guard let text = value(.resources) else { return nil }
        switch InjectionRequest.parseResources(text) {
        case .success(let value): return value
        case .failure(let message):
            problems.append("\(Key.resources.annotation): \(message.reason)")
            return nil
        }
    }
}
