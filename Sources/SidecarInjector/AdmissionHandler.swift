import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Answers one AdmissionReview `v1` body: the pure part of the webhook.
package struct AdmissionHandler: Sendable {
    /// The largest body read. An AdmissionReview of a pod at the API server's 1.5 MiB object
    /// limit (etcd's) is about 1.5 MiB (`SidecarInjectorTests` measures it); 2 MiB leaves room
    /// for JSON that encodes larger than the stored object, and keeps the anonymous memory of a
    /// flood of large reviews well inside the chart's 128Mi limit (docs/reliability.md).
    package static let maxBodyBytes = 2 << 20

    /// The JSON bounds of a body: Kubernetes objects nest less than 20 deep, and a pod at the
    /// object limit holds far fewer values than this unless it is built to exhaust memory.
    static let parser = JSONParser(maxDepth: 64, maxValues: 100_000)

    /// How a review was answered: the `result` label of `mr_webhook_requests_total` and of the
    /// review's log line.
    package enum Result: String, Sendable, CaseIterable {
        /// The pod gets the sidecar.
        case injected
        /// The pod has it already.
        case unchanged
        /// Not a pod creation, nor an update that changes its spec.
        case skipped
        /// Refused: bad annotations, or what the admin's policy forbids.
        case denied
        /// The body is not an AdmissionReview (400).
        case invalid
        /// Too many reviews at once (503).
        case busy

        /// Whether the review's log line is a warning (something is wrong with the request, or
        /// the webhook is overloaded).
        package var isProblem: Bool { self == .denied || self == .invalid || self == .busy }
    }

    package struct Answer: Sendable {
        /// 200, or 400 for a body that is not an AdmissionReview.
        package var status: Int
        package var body: [UInt8]
        /// How it was answered.
        package var result: Result
        /// Why, for the log line.
        package var reason: String
        /// `namespace/name` of the pod (or its `generateName`), for the log line.
        package var subject: String = ""
    }

    package let injector: Injector

    package init(injector: Injector) { self.injector = injector }

    /// Answers a request body.
    package func answer(_ body: [UInt8]) -> Answer {
        body.withUnsafeBufferPointer { answer($0) }
    }

    /// Answers a request body read in place.
    package func answer(_ body: UnsafeBufferPointer<UInt8>) -> Answer {
        let review: JSONValue
        do {
            review = try Self.parser.parse(body)
        } catch {
            return Self.invalid("the body is not JSON (\(error.reason)): send an admission.k8s.io/v1 AdmissionReview")
        }
        guard review.object != nil else {
            return Self.invalid("the body is not a JSON object: send an admission.k8s.io/v1 AdmissionReview")
        }
        guard review["apiVersion"]?.string == "admission.k8s.io/v1", review["kind"]?.string == "AdmissionReview" else {
            return Self.invalid(
                "the body is not an admission.k8s.io/v1 AdmissionReview (set admissionReviewVersions: [v1])")
        }
        guard let request = review["request"], let uid = request["uid"]?.string, !uid.isEmpty, uid.utf8.count <= 128
        else {
            return Self.invalid("the AdmissionReview has no request.uid (a UID of at most 128 characters)")
        }
        let kind = request["kind"]?["kind"]?.string
        let operation = request["operation"]?.string
        guard kind == "Pod", operation == "CREATE" || operation == "UPDATE" else {
            return Self.allowed(
                uid: uid, result: .skipped,
                reason: LogText.bounded("\(kind ?? "unknown kind") \(operation ?? "")", limit: 80))
        }
        guard let pod = request["object"], pod.object != nil else {
            return Self.invalid("the AdmissionReview has no request.object")
        }
        let decision: InjectionDecision
        if operation == "UPDATE" {
            guard let old = request["oldObject"], old.object != nil else {
                return Self.invalid("the AdmissionReview of an UPDATE has no request.oldObject")
            }
            decision = injector.decideUpdate(old: old, new: pod)
        } else {
            decision = injector.decide(pod: pod)
        }
        var answer = reply(uid: uid, decision)
        let name = pod["metadata"]?["name"]?.string ?? pod["metadata"]?["generateName"]?.string.map { $0 + "*" } ?? "?"
        answer.subject = LogText.bounded("\(request["namespace"]?.string ?? "?")/\(name)", limit: 127)
        return answer
    }

    private func reply(uid: String, _ decision: InjectionDecision) -> Answer {
        switch decision {
        case .unchanged(let reason, let warnings):
            var response: [String: JSONValue] = ["uid": .string(uid), "allowed": true]
            if !warnings.isEmpty { response["warnings"] = .array(warnings.map { .string($0) }) }
            return Answer(status: 200, body: Self.review(response), result: .unchanged, reason: reason)
        case .patch(let operations, let reason, let warnings):
            let patch = Data(JSON.encode(operations))
            var response: [String: JSONValue] = [
                "uid": .string(uid), "allowed": true, "patchType": "JSONPatch",
                "patch": .string(patch.base64EncodedString()),
            ]
            if !warnings.isEmpty { response["warnings"] = .array(warnings.map { .string($0) }) }
            return Answer(status: 200, body: Self.review(response), result: .injected, reason: reason)
        case .denied(let denial):
            let response: JSONValue = [
                "uid": .string(uid), "allowed": false,
                "status": ["code": 403, "reason": "Forbidden", "message": .string(denial.reason)],
            ]
            return Answer(
                status: 200, body: Self.review(response.object ?? [:]), result: .denied, reason: denial.reason)
        }
    }

    private static func allowed(uid: String, result: Result, reason: String) -> Answer {
        Answer(status: 200, body: review(["uid": .string(uid), "allowed": true]), result: result, reason: reason)
    }

    /// A 503 answer: too many reviews at once; the API server's `failurePolicy` decides.
    package static func busy() -> Answer {
        let body: JSONValue = ["error": "the webhook is busy: too many reviews at once"]
        return Answer(status: 503, body: body.encoded(), result: .busy, reason: "too many reviews at once")
    }

    /// A 400 answer.
    package static func invalid(_ message: String) -> Answer {
        let body: JSONValue = ["error": .string(message)]
        return Answer(status: 400, body: body.encoded(), result: .invalid, reason: message)
    }

    private static func review(_ response: [String: JSONValue]) -> [UInt8] {
        let value: JSONValue = [
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": .object(response),
        ]
        return value.encoded()
    }
}
