import AzureCore
import SidecarConfig

/// The webhook's injection applied to manifests at build time (`mr-token-sidecar inject`): every
/// pod template that asks for the sidecar (the webhook's label and annotations) gets the
/// webhook's own JSON patch; every other document and template is written back as it was read,
/// byte for byte.
///
/// A pod template is a `Pod`, or the template of a Deployment, StatefulSet, DaemonSet,
/// ReplicaSet, ReplicationController, Job or CronJob, at the top level of a document or among
/// the `items` of a `List`. A document that gets the sidecar is written back from its nodes:
/// key order, scalar styles and tags stay, its comments and anchors do not (libyaml keeps
/// neither); the comments before it stay.
package struct ManifestInjector: Sendable {
    package let injector: Injector

    package init(injector: Injector) { self.injector = injector }

    /// What injecting a stream gave: the text to write, what the user should hear, and why the
    /// stream was refused (nothing is to be written then).
    package struct Outcome: Sendable {
        package var output: String
        package var warnings: [String]
        package var errors: [String]
    }

    /// The paths of the pod template in each workload kind.
    package static let templatePaths: [String: [String]] = [
        "Pod": [],
        "Deployment": ["spec", "template"], "StatefulSet": ["spec", "template"], "DaemonSet": ["spec", "template"],
        "ReplicaSet": ["spec", "template"], "ReplicationController": ["spec", "template"],
        "Job": ["spec", "template"], "CronJob": ["spec", "jobTemplate", "spec", "template"],
    ]

    /// Injects every pod template of a YAML stream that asks for it.
    /// - Parameters:
    ///   - text: The stream.
    ///   - source: Its name in messages (a file, or `standard input`).
    package func inject(_ text: String, source: String) -> Outcome {
        var outcome = Outcome(output: "", warnings: [], errors: [])
        let documents: [ManifestDocument]
        do {
            documents = try ManifestYAML.documents(in: text)
        } catch {
            outcome.errors.append("\(source): \(error)")
            return outcome
        }
        for (index, document) in documents.enumerated() {
            let place = "\(source): document \(index + 1) at line \(document.line)"
            guard let root = document.root else {
                outcome.output += document.text
                continue
            }
            var report = Report()
            let changed = process(root, at: place, into: &report)
            outcome.warnings += report.warnings
            outcome.errors += report.errors
            guard let changed else {
                outcome.output += document.text
                continue
            }
            outcome.output += Self.written(changed, in: document)
        }
        if !outcome.errors.isEmpty { outcome.output = "" }
        return outcome
    }

    private struct Report {
        var warnings: [String] = []
        var errors: [String] = []
    }

    /// A document's root, or `nil` when nothing in it changes.
    private func process(_ root: ManifestNode, at place: String, into report: inout Report) -> ManifestNode? {
        guard let kind = root["kind"]?.text else { return nil }
        if kind.hasSuffix("List"), case .sequence(var items, let flow, let tag)? = root["items"] {
            var changed = false
            for (position, item) in items.enumerated() {
                let itemPlace = "\(place), item \(position + 1)"
                if let injected = processObject(item, at: itemPlace, into: &report) {
                    items[position] = injected
                    changed = true
                }
            }
            guard changed else { return nil }
            return Self.replacing(["items"], in: root, with: .sequence(items, flow: flow, tag: tag))
        }
        return processObject(root, at: place, into: &report)
    }

    /// One object: its pod template injected, or `nil` when it has none that changes.
    private func processObject(_ object: ManifestNode, at place: String, into report: inout Report) -> ManifestNode? {
        guard let kind = object["kind"]?.text else { return nil }
        guard let path = Self.templatePaths[kind] else {
            // A kind with a pod template inject does not know (an Argo Rollout, a Knative Service):
            // say that it is left alone rather than let the pod start without its tokens.
            if let labels = object["spec"]?["template"]?["metadata"]?["labels"],
                ManifestYAML.json(labels)[InjectionRequest.injectLabel] == .string("true")
            {
                report.warnings.append(
                    "\(place) (\(LogText.bounded(kind, limit: 63))): its spec.template asks for the sidecar, but inject knows the pod templates of \(Self.templatePaths.keys.sorted().joined(separator: ", ")) only: it is left as it is (the webhook injects its pods when they are created)"
                )
            }
            return nil
        }
        let name = [object["metadata"]?["namespace"]?.text, object["metadata"]?["name"]?.text].compactMap { $0 }
            .joined(separator: "/")
        let subject = "\(place) (\(kind)\(name.isEmpty ? "" : " " + LogText.bounded(name, limit: 127)))"
        guard let template = Self.node(at: path, in: object), case .mapping = template else { return nil }
        let pod = Self.withoutNulls(ManifestYAML.json(template))
        guard let spec = pod["spec"]?.object else { return nil }
        guard pod["metadata"]?["labels"]?[InjectionRequest.injectLabel] == .string("true") else {
            // Not for the webhook, but a pod that declares the sidecar by hand gets its checks.
            let tokenVolume = Injector.tokenVolumeCheck(in: spec)
            if let refusal = tokenVolume.refusal {
                report.errors.append("\(subject): \(refusal)")
                return nil
            }
            report.warnings += tokenVolume.warnings.map { "\(subject): \($0)" }
            let asked = (pod["metadata"]?["annotations"]?.object ?? [:]).keys.filter {
                $0.hasPrefix(InjectionRequest.prefix)
                    && ![InjectionRequest.statusAnnotation, InjectionRequest.versionAnnotation].contains($0)
            }
            if !asked.isEmpty {
                report.warnings.append(
                    "\(subject): has \(asked.sorted().joined(separator: ", ")) but not the label \(InjectionRequest.injectLabel): \"true\", so it is left as it is: add the label to inject it"
                )
            }
            return nil
        }
        switch injector.decide(pod: pod) {
        case .unchanged(_, let warnings):
            report.warnings += warnings.map { "\(subject): \($0)" }
            return nil
        case .denied(let denial):
            report.errors.append("\(subject): \(denial.reason)")
            return nil
        case .patch(let operations, _, let warnings):
            report.warnings += warnings.map { "\(subject): \($0)" }
            do {
                let injected = try ManifestYAML.apply(operations, to: template)
                return Self.replacing(path[...], in: object, with: injected)
            } catch {
                report.errors.append("\(subject): the patch does not apply: \(error.message)")
                return nil
            }
        }
    }

    /// The text of a changed document: what stood before its root (`---`, comments), the root
    /// written anew, and what stood after it.
    static func written(_ root: ManifestNode, in document: ManifestDocument) -> String {
        // By bytes: "\r\n" is one Character to Swift.
        var prefix = Array(document.prefix.utf8)
        let lastBreak = prefix.lastIndex(of: UInt8(ascii: "\n"))
        var lastLine = prefix[(lastBreak.map { $0 + 1 } ?? 0)...]
        if lastLine.starts(with: [0xEF, 0xBB, 0xBF]) { lastLine = lastLine.dropFirst(3) }  // a byte order mark
        if lastLine.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) {
            prefix.removeSubrange(lastLine.startIndex...)
        } else {
            // `--- ` followed by the root on its line: the root now starts a line of its own.
            prefix.append(UInt8(ascii: "\n"))
        }
        let suffix = document.suffix.utf8.drop {
            [UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: " "), UInt8(ascii: "\t")].contains($0)
        }
        return String(decoding: prefix, as: UTF8.self) + ManifestYAML.emit(root)
            + String(decoding: suffix, as: UTF8.self)
    }

    private static func node(at path: [String], in node: ManifestNode) -> ManifestNode? {
        var current: ManifestNode? = node
        for key in path { current = current?[key] }
        return current
    }

    private static func replacing(
        _ path: ArraySlice<String>, in node: ManifestNode, with value: ManifestNode
    )
        -> ManifestNode
    {
        guard let key = path.first, case .mapping(var pairs, let flow, let tag) = node,
            let index = pairs.firstIndex(where: { $0.key.text == key })
        else { return path.isEmpty ? value : node }
        pairs[index].value = replacing(path.dropFirst(), in: pairs[index].value, with: value)
        return .mapping(pairs, flow: flow, tag: tag)
    }

    /// Kubernetes reads a member set to null as a member not set (`volumes:` with no list).
    static func withoutNulls(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            .object(members.filter { $0.value != .null }.mapValues(withoutNulls))
        case .array(let items):
            .array(items.map(withoutNulls))
        default:
            value
        }
    }
}
