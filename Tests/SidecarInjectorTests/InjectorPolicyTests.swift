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
        let registries = InjectionPolicy(allowImageOverride: true, allowedImageRegistries: ["registry.example"])
        #expect(try answer(pod, policy: registries).message.contains("is not from an allowed registry"))
        #expect(try answer(pod, policy: InjectionPolicy(allowImageOverride: true)).allowed)
    }

    @Test(
        "the image registry is compared by host and path: registry.example admits registry.example/x, not registry.example.evil.io/x",
        arguments: [
            ("registry.example", "registry.example/mr-token-sidecar:1", true),
            ("registry.example", "registry.example.evil.io/mr-token-sidecar:1", false),
            ("registry.example/", "registry.example.evil.io/x", false),
            ("registry.example", "evil.io/registry.example/x", false),
            ("registry.example/team", "registry.example/team/sidecar@sha256:00", true),
            ("registry.example/team/", "registry.example/teams/sidecar:1", false),
            ("registry.example/team", "registry.example/team", true),
            ("registry.example:5000", "registry.example:5000/x:1", true),
            ("registry.example:5000", "registry.example/x:1", false),
            ("docker.io/library", "busybox:1", true),
            ("docker.io", "evil/sidecar", true),
            ("registry.example", "sidecar:1", false),
            ("REGISTRY.example", "registry.EXAMPLE/x", true),
        ])
    func registries(entry: String, image: String, allowed: Bool) throws {
        #expect(InjectionPolicy.image(image, isFrom: entry) == allowed)
        let pod = try editedPod("workload-identity") {
            $0.set(["metadata", "annotations", "mixedreality.azure.com/image"], .string(image))
        }
        let policy = InjectionPolicy(allowImageOverride: true, allowedImageRegistries: [entry])
        #expect(try answer(pod, policy: policy).allowed == allowed, "\(entry) \(image)")
    }

    @Test(
        "mixedreality.azure.com/resources is merged into the chart's: the limits stay; a request above its limit is refused"
    )
    func resourcesMerged() throws {
        func pod(_ resources: String) throws -> JSONValue {
            try editedPod("workload-identity") {
                $0.set(["metadata", "annotations", "mixedreality.azure.com/resources"], .string(resources))
            }
        }
        let merged = try sidecar(try answer(try pod(#"{"requests":{"cpu":"1m"}}"#)))["resources"]
        #expect(merged == ["requests": ["cpu": "1m", "memory": "32Mi"], "limits": ["cpu": "100m", "memory": "64Mi"]])
        let above = try answer(try pod(#"{"requests":{"memory":"128Mi"}}"#))
        #expect(!above.allowed)
        #expect(above.message.contains("requests.memory 128Mi is more than limits.memory 64Mi"), "\(above.message)")
        // A chart without limits: every pod is refused, naming the value that lost them.
        let settings = InjectorSettings(
            image: "registry.example/mr-token-sidecar:0.1.0", resources: ["requests": ["cpu": "5m", "memory": "32Mi"]])
        let answer = try AdmissionAnswer(
            AdmissionHandler(injector: Injector(settings: settings)).answer(
                AdmissionFixtures.review(try pod(#"{"requests":{"cpu":"1m"}}"#))
            ).body)
        #expect(answer.message.contains("the sidecar needs limits.cpu"), "\(answer.message)")
    }

    /// A pod injected once with the default policy, as the API server hands it back.
    func injectedPod() throws -> JSONValue {
        let pod = try AdmissionFixtures.pod("workload-identity")
        return try JSONPatch.apply(try answer(pod).operations, to: pod)
    }

    /// `pod` with its sidecar container edited.
    func editingSidecar(_ pod: JSONValue, _ edit: (inout [String: JSONValue]) -> Void) -> JSONValue {
        var object = pod.object ?? [:]
        var spec = object["spec"]?.object ?? [:]
        var list = spec["initContainers"]?.array ?? []
        guard let index = list.firstIndex(where: { $0["name"] == "mr-token-sidecar" }) else { return pod }
        var container = list[index].object ?? [:]
        edit(&container)
        list[index] = .object(container)
        spec["initContainers"] = .array(list)
        object["spec"] = .object(spec)
        return .object(object)
    }

    @Test(
        "a pod that declares the sidecar's containers gets the policy too: they must be what the injector renders, defaults and workload identity aside",
        arguments: [
            "the same", "defaults", "image", "no allowed credentials", "allowed hosts", "command", "extra mount",
            "resources", "privileged", "wrong list", "token volume on the host",
        ])
    func declaredSidecar(change: String) throws {
        let injected = try injectedPod()
        var pod = editingSidecar(injected) { container in
            var environment = container["env"]?.array ?? []
            switch change {
            case "defaults":
                // What the API server fills in: probe defaults, terminationMessagePath, a quantity
                // in canonical form.
                container["terminationMessagePath"] = "/dev/termination-log"
                var probe = container["readinessProbe"]?.object ?? [:]
                probe["timeoutSeconds"] = 1
                probe["successThreshold"] = 1
                container["readinessProbe"] = .object(probe)
                container.set(["resources", "limits", "cpu"], "0.1")
            case "image": container["image"] = "evil.example/sidecar:1"
            case "no allowed credentials":
                environment.removeAll { $0["name"] == "MR_TOKEN_SIDECAR_ALLOWED_CREDENTIALS" }
            case "allowed hosts":
                environment.append(["name": "MR_TOKEN_SIDECAR_ALLOWED_HOSTS", "value": "evil.example"])
            case "command": container["command"] = ["/bin/sh"]
            case "extra mount":
                var mounts = container["volumeMounts"]?.array ?? []
                mounts.append(["name": "secrets", "mountPath": "/secrets"])
                container["volumeMounts"] = .array(mounts)
            case "resources": container.set(["resources", "limits", "memory"], "8Gi")
            case "privileged": container.set(["securityContext", "privileged"], true)
            default: break
            }
            container["env"] = .array(environment)
        }
        if change == "wrong list" {
            // The sidecar moved from initContainers into containers.
            var object = pod.object ?? [:]
            var spec = object["spec"]?.object ?? [:]
            var initContainers = spec["initContainers"]?.array ?? []
            let sidecar = initContainers.removeFirst()
            spec["initContainers"] = .array(initContainers)
            spec["containers"] = .array((spec["containers"]?.array ?? []) + [sidecar])
            object["spec"] = .object(spec)
            pod = .object(object)
        }
        if change == "token volume on the host" {
            var object = pod.object ?? [:]
            var volumes = object["spec"]?["volumes"]?.array ?? []
            volumes = volumes.map {
                $0["name"] == "mr-token-sidecar-tokens"
                    ? ["name": "mr-token-sidecar-tokens", "hostPath": ["path": "/tmp"]] : $0
            }
            object.set(["spec", "volumes"], .array(volumes))
            pod = .object(object)
        }
        let reviewed = try answer(pod)
        if ["the same", "defaults"].contains(change) {
            #expect(reviewed.allowed, "\(reviewed.message)")
            #expect(try reviewed.operations.isEmpty)
        } else {
            #expect(!reviewed.allowed, "\(change)")
            #expect(reviewed.message.contains("not what the injector renders"), "\(reviewed.message)")
        }
    }

    @Test("a pod that declares the sidecar itself, for a credential the policy refuses, is refused")
    func declaredSidecarPolicy() throws {
        // Injected while managed identity was allowed, then offered to a webhook that refuses it.
        let pod = try AdmissionFixtures.pod("plain")  // credential: managedIdentity
        let open = InjectionPolicy(allowedCredentials: [.managedIdentity])
        let injected = try JSONPatch.apply(try answer(pod, policy: open).operations, to: pod)
        #expect(try answer(injected, policy: open).allowed)
        let refused = try answer(injected)
        #expect(!refused.allowed)
        #expect(refused.message.contains("managedIdentity is not allowed"))
    }

    @Test(
        "the operator's CA bundle (a ConfigMap or a Secret of the pod's namespace) is mounted read-only and named in MR_TOKEN_SIDECAR_CA_FILE; allowed scopes in MR_TOKEN_SIDECAR_ALLOWED_SCOPES",
        arguments: [CABundle.Kind.configMap, .secret])
    func operatorTrust(kind: CABundle.Kind) throws {
        let policy = InjectionPolicy(
            sidecarAllowedScopes: ["api://private-sts/.default"],
            sidecarCABundle: CABundle(kind: kind, name: "corp-ca", key: "bundle.pem"))
        let pod = try AdmissionFixtures.pod("workload-identity")
        let answer = try answer(pod, policy: policy)
        let sidecar = try sidecar(answer)
        let environment = sidecar["env"]?.array ?? []
        #expect(
            environment.contains {
                $0["name"] == "MR_TOKEN_SIDECAR_CA_FILE" && $0["value"] == "/etc/mr-token-sidecar-ca/ca.pem"
            })
        #expect(
            environment.contains {
                $0["name"] == "MR_TOKEN_SIDECAR_ALLOWED_SCOPES" && $0["value"] == "api://private-sts/.default"
            })
        #expect(
            sidecar["volumeMounts"]?.array?.contains {
                $0 == ["name": "mr-token-sidecar-ca", "mountPath": "/etc/mr-token-sidecar-ca", "readOnly": true]
            } == true)
        var injected = try JSONPatch.apply(try answer.operations, to: pod)
        let volume = try #require(injected["spec"]?["volumes"]?.array?.first { $0["name"] == "mr-token-sidecar-ca" })
        let source = kind == .configMap ? "configMap" : "secret"
        #expect(volume[source]?[kind == .configMap ? "name" : "secretName"] == "corp-ca")
        #expect(volume[source]?["items"] == [["key": "bundle.pem", "path": "ca.pem"]])
        // Reinvoked after the API server added the volume's defaultMode: unchanged.
        var object = injected.object ?? [:]
        object.set(
            ["spec", "volumes"],
            .array(
                (object["spec"]?["volumes"]?.array ?? []).map { volume in
                    guard volume["name"] == "mr-token-sidecar-ca", var members = volume.object,
                        var inner = members[source]?.object
                    else { return volume }
                    inner["defaultMode"] = 420
                    members[source] = .object(inner)
                    return .object(members)
                }))
        injected = .object(object)
        let again = try self.answer(injected, policy: policy)
        let operations = try again.operations
        #expect(again.allowed && operations.isEmpty, "\(again.message)")
    }

    @Test("a pod update may not change the sidecar's containers (kubectl set image); other updates pass")
    func updates() throws {
        let injected = try injectedPod()
        let handler = AdmissionHandler(
            injector: Injector(settings: InjectorSettings(image: "registry.example/mr-token-sidecar:0.1.0")))
        func review(_ new: JSONValue) throws -> AdmissionAnswer {
            var review = AdmissionFixtures.review(new, operation: "UPDATE")
            var object = try JSONDecoder().decode(JSONValue.self, from: Data(review)).object ?? [:]
            object.set(["request", "oldObject"], injected)
            review = JSONValue.object(object).encoded()
            return try AdmissionAnswer(handler.answer(review).body)
        }
        let swapped = editingSidecar(injected) { $0["image"] = "evil.example/sidecar:1" }
        let refused = try review(swapped)
        #expect(!refused.allowed)
        #expect(
            refused.message.contains("container mr-token-sidecar was put there by the injector and cannot be changed"))
        var labelled = injected.object ?? [:]
        labelled.set(["metadata", "labels", "team"], "spatial")
        #expect(try review(.object(labelled)).allowed)
        #expect(try review(injected).allowed)
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
        #expect(answer.result == .injected)
    }
}
