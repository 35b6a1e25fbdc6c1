import AzureCore
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
        var problems: [String] = []
        func value(_ key: Key) -> String? { annotations[key.annotation]?.trimmed }

        let known = Set(Key.allCases.map(\.annotation)).union([statusAnnotation, injectLabel])
        for name in annotations.keys.sorted() where name.hasPrefix(prefix) && !known.contains(name) {
            problems.append(
                "\(name) is not an annotation of mr-token-sidecar; the known ones are "
                    + Key.allCases.map(\.annotation).joined(separator: ", "))
        }

        var source: Source?
        let single: [Key] = [.accountId, .accountDomain, .credential, .outputFormat]
        if let name = value(.configMap) {
            let extra = single.filter { value($0) != nil }
            if !extra.isEmpty {
                problems.append(
                    "\(Key.configMap.annotation) names the whole config, so "
                        + extra.map(\.annotation).joined(separator: ", ")
                        + " must not be set as well: put the account in the ConfigMap, or drop \(Key.configMap.annotation)")
            } else if !isDNSSubdomain(name) {
                problems.append(
                    "\(Key.configMap.annotation): \"\(name.prefix(80))\" is not a ConfigMap name (lowercase letters, digits, '-' and '.', at most 253)")
            } else {
                source = .configMap(name)
            }
        } else {
            let id = value(.accountId)
            let domain = value(.accountDomain)
            if id == nil && domain == nil {
                problems.append(
                    "the pod asks for injection (label \(injectLabel)) but names no account: set \(Key.configMap.annotation), or \(Key.accountId.annotation) and \(Key.accountDomain.annotation)")
            }
            var uuid: String?
            if let id {
                if let parsed = UUID(uuidString: id) {
                    uuid = parsed.uuidString.lowercased()
                } else {
                    problems.append("\(Key.accountId.annotation): \"\(id.prefix(80))\" is not a UUID: copy the account id from the Azure portal")
                }
            } else if domain != nil {
                problems.append("\(Key.accountId.annotation) is missing: \(Key.accountDomain.annotation) needs it")
            }
            var host: String?
            if let domain {
                if isHostname(domain) {
                    host = domain.lowercased()
                } else {
                    problems.append(
                        "\(Key.accountDomain.annotation): \"\(domain.prefix(80))\" is not a domain such as eastus2.mixedreality.azure.com")
                }
            } else if id != nil {
                problems.append("\(Key.accountDomain.annotation) is missing: set it to the account's domain, such as eastus2.mixedreality.azure.com")
            }
            var credential = Credential.workloadIdentity
            if let text = value(.credential) {
                if let parsed = Credential(rawValue: text) {
                    credential = parsed
                } else if ["accountKey", "clientSecret", "clientCertificate"].contains(text) {
                    problems.append(
                        "\(Key.credential.annotation): \(text) needs a secret file: describe the account in a ConfigMap and name it with \(Key.configMap.annotation)")
                } else {
                    problems.append(
                        "\(Key.credential.annotation): \"\(text.prefix(80))\" is not one of "
                            + Credential.allCases.map(\.rawValue).joined(separator: ", "))
                }
            }
            var format = OutputConfiguration.Format.token
            if let text = value(.outputFormat) {
                if let parsed = OutputConfiguration.Format(rawValue: text) {
                    format = parsed
                } else {
                    problems.append(
                        "\(Key.outputFormat.annotation): \"\(text.prefix(80))\" is not one of "
                            + OutputConfiguration.Format.allCases.map(\.rawValue).joined(separator: ", "))
                }
            }
            if let uuid, let host { source = .account(id: uuid, domain: host, credential: credential, format: format) }
        }

        var containers: [String]?
        if let text = value(.containers) {
            let names = text.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
            let unknown = names.filter { !appContainers.contains($0) }
            if names.isEmpty {
                problems.append("\(Key.containers.annotation) is empty: list app containers separated by commas, or drop it for all of them")
            } else if !unknown.isEmpty {
                problems.append(
                    "\(Key.containers.annotation) names \(unknown.joined(separator: ", ")), which the pod does not have; its containers are "
                        + appContainers.joined(separator: ", "))
            } else {
                containers = names
            }
        }

        var image: String?
        if let text = value(.image) {
            if text.isEmpty || text.count > 512 || text.contains(where: { $0.isWhitespace }) {
                problems.append("\(Key.image.annotation): \"\(text.prefix(80))\" is not an image reference")
            } else {
                image = text
            }
        }

        var resources: JSONValue?
        if let text = value(.resources) {
            switch parseResources(text) {
            case .success(let value): resources = value
            case .failure(let message): problems.append("\(Key.resources.annotation): \(message.reason)")
            }
        }

        guard problems.isEmpty, let source else { return .failure(InjectionDenial(reason: problems.joined(separator: "; "))) }
        return .success(InjectionRequest(source: source, containers: containers, image: image, resources: resources))
    }

    /// `{"requests": {"cpu": "5m", "memory": "32Mi"}, "limits": {...}}`, each part optional.
    static func parseResources(_ text: String) -> Result<JSONValue, InjectionDenial> {
        let example = #"such as {"requests":{"cpu":"5m","memory":"32Mi"},"limits":{"memory":"64Mi"}}"#
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)), let top = value.object else {
            return .failure(InjectionDenial(reason: "not a JSON object \(example)"))
        }
        for (section, body) in top.sorted(by: { $0.key < $1.key }) {
            guard ["requests", "limits"].contains(section) else {
                return .failure(InjectionDenial(reason: "\"\(section.prefix(40))\" is not requests or limits"))
            }
            guard let entries = body.object else {
                return .failure(InjectionDenial(reason: "\(section) must be an object \(example)"))
            }
            for (resource, quantity) in entries.sorted(by: { $0.key < $1.key }) {
                guard ["cpu", "memory", "ephemeral-storage"].contains(resource) else {
                    return .failure(InjectionDenial(reason: "\(section).\(resource.prefix(40)) is not cpu, memory or ephemeral-storage"))
                }
                guard let text = quantity.string, isQuantity(text) else {
                    return .failure(InjectionDenial(reason: "\(section).\(resource) must be a quantity string such as \"50m\" or \"64Mi\""))
                }
            }
        }
        return .success(value)
    }

    /// A Kubernetes quantity as people write them: digits, an optional fraction, a suffix.
    static func isQuantity(_ text: String) -> Bool {
        let suffixes = ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"]
        let split = text.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? text.endIndex
        let number = text[..<split]
        guard !number.isEmpty, number.first != ".", number.last != ".", number.filter({ $0 == "." }).count <= 1 else { return false }
        return suffixes.contains(String(text[split...]))
    }

    static func isDNSSubdomain(_ text: String) -> Bool {
        guard (1...253).contains(text.count) else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isDNSLabel)
    }

    static func isHostname(_ text: String) -> Bool {
        isDNSSubdomain(text.lowercased()) && text.contains(".")
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
