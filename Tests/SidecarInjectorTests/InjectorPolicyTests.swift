import AzureCore
import Foundation
import SidecarConfig
import Testing

@testable import SidecarInjector

/// Edits a fixture pod.
func editedPod(_ name: String, _ edit: (inout [String: JSONValue]) -> Void) throws -> JSONValue {
    var object = try AdmissionFixtures.pod(name).object ?? [:]
    edit(&object)
    return .object(object)
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Sets `value` at a path of object keys, making the objects on the way.
    mutating func set(_ path: [String], _ value: JSONValue?) {
        guard let first = path.first else { return }
        if path.count == 1 {
            self[first] = value
            return
        }
        var child = self[first]?.object ?? [:]
        child.set(Array(path.dropFirst()), value)
        self[first] = .object(child)
    }
}

@Suite("Injector: what the cluster admin allows, and what a pod may not ask for")
struct InjectorPolicyTests {
    func answer(_ pod: JSONValue, policy: InjectionPolicy = InjectionPolicy()) throws -> AdmissionAnswer {
        let settings = InjectorSettings(image: "registry.example/mr-token-sidecar:0.1.0", policy: policy)
        return try AdmissionAnswer(
            AdmissionHandler(injector: Injector(settings: settings)).answer(AdmissionFixtures.review(pod)).body)
    }

    /// The injected sidecar container of an answer's patch.
    func sidecar(_ answer: AdmissionAnswer) throws -> JSONValue {
        for operation in try answer.operations {
            let candidates = operation["value"]?.array ?? [operation["value"] ?? .null]
            if let container = candidates.first(where: { $0["name"] == "mr-token-sidecar" }) { return container }
        }
        throw Failure(description: "no sidecar in the patch")
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    @Test(
        "by default, managed identity and the default chain (the node's identity) are refused, naming the chart value")
    func credentials() throws {
        let managed = try AdmissionFixtures.pod("plain")  // credential: managedIdentity
        let refused = try answer(managed)
        #expect(!refused.allowed)
        #expect(refused.message.contains("mixedreality.azure.com/credential: managedIdentity is not allowed"))
        #expect(refused.message.contains("policy.allowedCredentials"))
        #expect(try answer(managed, policy: InjectionPolicy(allowedCredentials: [.managedIdentity])).allowed)
        // The injected sidecar enforces the same list on a ConfigMap's accounts.
        let job = try answer(try AdmissionFixtures.pod("job"))
        let environment = try sidecar(job)["env"]?.array ?? []
        #expect(
            environment.contains {
                $0["name"] == "MR_TOKEN_SIDECAR_ALLOWED_CREDENTIALS"
                    && $0["value"] == "accountKey,workloadIdentity,clientSecret,clientCertificate"
            })
    }

    @Test("the image annotation is refused unless allowed, and then only from the allowed registries")
    func imageOverride() throws {
        let pod = try editedPod("workload-identity") {
            $0.set(["metadata", "annotations", "mixedreality.azure.com/image"], "evil.example/sidecar:1")
        }
        #expect(try answer(pod).message.contains("mixedreality.azure.com/image is not honoured on this cluster"))
        let registries = InjectionPolicy(allowImageOverride: true, allowedImageRegistries: ["registry.example/"])
        #expect(try answer(pod, policy: registries).message.contains("is not from an allowed registry"))
        #expect(try answer(pod, policy: InjectionPolicy(allowImageOverride: true)).allowed)
    }

    @Test("resources beyond the admin's bounds are refused")
    func resourceBounds() throws {
        let pod = try editedPod("workload-identity") {
            $0.set(
                ["metadata", "annotations", "mixedreality.azure.com/resources"],
                #"{"requests":{"memory":"32Mi"},"limits":{"cpu":"2","memory":"2Gi"}}"#)
        }
        let bounded = InjectionPolicy(maxCPU: 0.5, maxMemory: 256 * 1_048_576)
        let refused = try answer(pod, policy: bounded)
        #expect(refused.message.contains("limits.cpu 2 is more than the cluster allows"))
        #expect(try answer(pod).allowed, "no bound by default")
    }

    @Test("a workload identity pod without the label Azure Workload Identity needs is refused, naming the label")
    func workloadIdentityLabel() throws {
        let pod = try editedPod("workload-identity") {
            $0.set(["metadata", "labels", "azure.workload.identity/use"], nil)
        }
        let refused = try answer(pod)
        #expect(!refused.allowed)
        #expect(refused.message.contains(#"azure.workload.identity/use: "true""#))
    }

    @Test("a hostNetwork pod is refused; a pod that declares the sidecar's port gets the next free one")
    func network() throws {
        let host = try editedPod("workload-identity") { $0.set(["spec", "hostNetwork"], true) }
        #expect(try answer(host).message.contains("hostNetwork"))
        let clash = try editedPod("workload-identity") {
            var containers = $0["spec"]?["containers"]?.array ?? []
            var first = containers[0].object ?? [:]
            first["ports"] = [["containerPort": 8787], ["containerPort": 8788]]
            containers[0] = .object(first)
            $0.set(["spec", "containers"], .array(containers))
        }
        let patched = try answer(clash)
        #expect(patched.allowed)
        let sidecar = try sidecar(patched)
        #expect(sidecar["startupProbe"]?["httpGet"]?["port"] == 8789)
        #expect(sidecar["env"]?.array?.contains { $0["value"] == "0.0.0.0:8789" } == true)
    }

    @Test("only the mount holding the workload identity token is copied, read-only, without subPath or propagation")
    func tokenMount() throws {
        let pod = try editedPod("workload-identity") {
            var containers = $0["spec"]?["containers"]?.array ?? []
            var first = containers[0].object ?? [:]
            first["volumeMounts"] = [
                ["name": "everything", "mountPath": "/var/run", "mountPropagation": "Bidirectional"],
                ["name": "azure-identity-token", "mountPath": "/var/run/secrets/azure/tokens", "readOnly": false],
            ]
            containers[0] = .object(first)
            $0.set(["spec", "containers"], .array(containers))
        }
        let patched = try answer(pod)
        let sidecar = try sidecar(patched)
        let mounts = sidecar["volumeMounts"]?.array ?? []
        #expect(
            mounts.contains([
                "name": "azure-identity-token", "mountPath": "/var/run/secrets/azure/tokens", "readOnly": true,
            ]))
        #expect(!mounts.contains { $0["name"] == "everything" })

        let subPath = try editedPod("workload-identity") {
            var containers = $0["spec"]?["containers"]?.array ?? []
            var first = containers[0].object ?? [:]
            first["volumeMounts"] = [
                ["name": "azure-identity-token", "mountPath": "/var/run/secrets/azure/tokens", "subPath": "x"]
            ]
            containers[0] = .object(first)
            $0.set(["spec", "containers"], .array(containers))
        }
        #expect(try answer(subPath).message.contains("mounted with subPath"))
    }

    @Test("denials echo a bounded, escaped piece of what the pod sent")
    func boundedEchoes() throws {
        let hostile = "\u{1B}[31m" + String(repeating: "x", count: 10_000) + "\n; rm -rf /"
        var annotations: [String: JSONValue] = [
            "mixedreality.azure.com/account-id": .string(hostile),
            "mixedreality.azure.com/account-domain": .string(hostile),
        ]
        for index in 0..<500 { annotations["mixedreality.azure.com/typo-\(index)"] = "x" }
        let pod = try editedPod("workload-identity") { $0.set(["metadata", "annotations"], .object(annotations)) }
        let handler = AdmissionHandler(injector: Injector(settings: AdmissionFixtures.settings))
        let answer = handler.answer(AdmissionFixtures.review(pod))
        let message = try AdmissionAnswer(answer.body).message
        #expect(message.utf8.count < 2_000, "\(message.utf8.count) bytes")
        #expect(!message.unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(message.contains("\\u{1B}"), "escaped, not dropped")
        #expect(message.contains("and 495 more"))
    }

    @Test("JSON deeper than 64 or with more than 100,000 values is refused with a 400, quickly")
    func jsonBounds() throws {
        let handler = AdmissionHandler(injector: Injector(settings: AdmissionFixtures.settings))
        let deep = Array(
            ("{\"apiVersion\":" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}")
                .utf8)
        let answer = handler.answer(deep)
        #expect(answer.status == 400)
        #expect(answer.reason.contains("deeper than 64"))
        let wide = Array(("[" + Array(repeating: "0", count: 150_000).joined(separator: ",") + "]").utf8)
        let started = ContinuousClock.now
        #expect(handler.answer(wide).reason.contains("more than 100000 JSON values"))
        #expect(ContinuousClock.now - started < .seconds(1))
    }

    @Test(
        "the body limit holds an AdmissionReview of a pod at the API server's 1.5 MiB object limit, with room to spare")
    func bodyLimit() throws {
        var pod = try AdmissionFixtures.pod("workload-identity").object ?? [:]
        let base = JSONValue.object(pod).encoded().count
        pod.set(
            ["metadata", "annotations", "example.com/large"],
            .string(String(repeating: "a", count: 1_572_864 - base - 40)))
        let object = JSONValue.object(pod)
        #expect(abs(object.encoded().count - 1_572_864) < 64, "a 1.5 MiB pod")
        let review = AdmissionFixtures.review(object)
        #expect(review.count <= AdmissionHandler.maxBodyBytes)
        #expect(AdmissionHandler.maxBodyBytes <= review.count * 3 / 2, "near what the API server can send")
        let answer = AdmissionHandler(injector: Injector(settings: AdmissionFixtures.settings)).answer(review)
        #expect(answer.result == "injected")
    }
}
