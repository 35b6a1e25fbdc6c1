import AzureCore
import Foundation
import SidecarConfig
import Testing

@testable import SidecarInjector

/// The admission fixtures in `Fixtures/admission`: `<name>.pod.json` goes in, the JSON Patch the
/// webhook answers is applied, and the result must equal `<name>[.<variant>].expected.json`
/// (which `scripts/check-kubernetes.sh` validates against the Kubernetes schemas).
/// `MR_UPDATE_FIXTURES=1` rewrites the expected files; review the diff before committing.
enum AdmissionFixtures {
    static let directory = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "Fixtures/admission")

    static func pod(_ name: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: directory.appending(path: "\(name).pod.json")))
    }

    static func expected(_ file: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: directory.appending(path: file)))
    }

    static func review(
        _ pod: JSONValue, uid: String = "705ab4f5-6393-11e8-b7cc-42010a800002", operation: String = "CREATE"
    )
        -> [UInt8]
    {
        let review: JSONValue = [
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": [
                "uid": .string(uid), "kind": ["group": "", "version": "v1", "kind": "Pod"],
                "resource": ["group": "", "version": "v1", "resource": "pods"],
                "namespace": pod["metadata"]?["namespace"] ?? "default",
                "operation": .string(operation), "object": pod, "dryRun": false,
            ],
        ]
        return review.encoded()
    }

    /// The fixtures exercise every credential and the image override: a policy that allows them
    /// (the default policy's refusals have tests of their own).
    static let settings = InjectorSettings(
        image: "registry.example/mr-token-sidecar:0.1.0",
        policy: InjectionPolicy(allowedCredentials: CredentialConfiguration.Kind.allCases, allowImageOverride: true),
        sidecarVersion: "0.1.0")
}

/// RFC 6902 as Kubernetes applies it, for the operations the injector may send (`add` only: any
/// other operation fails the test).
enum JSONPatch {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func apply(_ operations: [JSONValue], to document: JSONValue) throws -> JSONValue {
        var result = document
        for operation in operations {
            guard operation["op"]?.string == "add", let path = operation["path"]?.string, let value = operation["value"]
            else {
                throw Failure(description: "unexpected operation \(operation)")
            }
            guard path.hasPrefix("/") else { throw Failure(description: "bad path \(path)") }
            let tokens = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
                String($0).replacing("~1", with: "/").replacing("~0", with: "~")
            }
            result = try add(value, at: tokens[...], in: result, path: path)
        }
        return result
    }

    private static func add(
        _ value: JSONValue, at tokens: ArraySlice<String>, in node: JSONValue, path: String
    ) throws
        -> JSONValue
    {
        guard let token = tokens.first else { return value }
        let rest = tokens.dropFirst()
        switch node {
        case .object(var members):
            if rest.isEmpty {
                members[token] = value
            } else {
                guard let child = members[token] else { throw Failure(description: "\(path): no member \(token)") }
                members[token] = try add(value, at: rest, in: child, path: path)
            }
            return .object(members)
        case .array(var items):
            if rest.isEmpty {
                if token == "-" {
                    items.append(value)
                } else {
                    guard let index = Int(token), index <= items.count else {
                        throw Failure(description: "\(path): bad index")
                    }
                    items.insert(value, at: index)
                }
            } else {
                guard let index = Int(token), index < items.count else {
                    throw Failure(description: "\(path): bad index")
                }
                items[index] = try add(value, at: rest, in: items[index], path: path)
            }
            return .array(items)
        default:
            throw Failure(description: "\(path): \(token) is inside a scalar")
        }
    }
}

/// The response in an AdmissionReview answer.
struct AdmissionAnswer {
    let response: JSONValue

    init(_ body: [UInt8]) throws {
        let review = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        #expect(review["apiVersion"] == "admission.k8s.io/v1")
        #expect(review["kind"] == "AdmissionReview")
        response = try #require(review["response"])
    }

    var allowed: Bool { response["allowed"] == .bool(true) }
    var message: String { response["status"]?["message"]?.string ?? "" }

    var operations: [JSONValue] {
        get throws {
            guard let encoded = response["patch"]?.string else { return [] }
            #expect(response["patchType"] == "JSONPatch")
            let bytes = try #require(Data(base64Encoded: encoded))
            return try #require(try JSONDecoder().decode(JSONValue.self, from: bytes).array)
        }
    }
}

@Suite("Injector")
struct InjectorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var pod: String
        var expected: String
        var native = true
        var testDescription: String { expected }
    }

    static let cases = [
        Case(pod: "plain", expected: "plain.expected.json"),
        Case(pod: "workload-identity", expected: "workload-identity.expected.json"),
        Case(pod: "job", expected: "job.expected.json"),
        Case(pod: "several-containers", expected: "several-containers.expected.json"),
        Case(pod: "plain", expected: "plain.legacy.expected.json", native: false),
        Case(pod: "job", expected: "job.legacy.expected.json", native: false),
    ]

    func handler(native: Bool) -> AdmissionHandler {
        var settings = AdmissionFixtures.settings
        settings.nativeSidecar = native
        return AdmissionHandler(injector: Injector(settings: settings))
    }

    @Test("The patch applied to each fixture gives the expected pod", arguments: cases)
    func fixture(_ fixture: Case) throws {
        let pod = try AdmissionFixtures.pod(fixture.pod)
        let answer = handler(native: fixture.native).answer(AdmissionFixtures.review(pod))
        #expect(answer.status == 200)
        #expect(answer.result == .injected)
        let decoded = try AdmissionAnswer(answer.body)
        #expect(decoded.allowed)
        #expect(decoded.response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002")
        let patched = try JSONPatch.apply(try decoded.operations, to: pod)
        let file = AdmissionFixtures.directory.appending(path: fixture.expected)
        if ProcessInfo.processInfo.environment["MR_UPDATE_FIXTURES"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try (encoder.encode(patched) + Data("\n".utf8)).write(to: file)
        }
        let expected = try AdmissionFixtures.expected(fixture.expected)
        #expect(patched == expected, "\(fixture.expected) differs; MR_UPDATE_FIXTURES=1 rewrites it")

        // Applied again, the injected pod comes back unchanged (reinvocation, a retried request).
        let again = handler(native: fixture.native).answer(AdmissionFixtures.review(patched))
        #expect(again.result == .unchanged)
        #expect(try AdmissionAnswer(again.body).allowed)
        #expect(try AdmissionAnswer(again.body).response["patch"] == nil)
    }

    @Test("The sidecar gets the workload identity environment and token whichever webhook runs first")
    func workloadIdentityOrder() throws {
        // Our webhook first: the sidecar has no AZURE_* yet. Then Azure Workload Identity's
        // webhook mutates the app container only (skip-containers, or an older version), and
        // ours is reinvoked (reinvocationPolicy: IfNeeded): it copies what the app got.
        var pod = try AdmissionFixtures.pod("workload-identity")
        let identity = try #require(pod["spec"]?["containers"]?.array?.first)
        var bare = identity.object ?? [:]
        bare["env"] = [["name": "LOG_LEVEL", "value": "info"]]
        bare["volumeMounts"] = nil
        var spec = pod["spec"]?.object ?? [:]
        let projected = spec["volumes"]
        spec["volumes"] = nil
        spec["containers"] = [.object(bare)]
        var object = pod.object ?? [:]
        object["spec"] = .object(spec)
        pod = .object(object)

        let first = handler(native: true).answer(AdmissionFixtures.review(pod))
        var injected = try JSONPatch.apply(try AdmissionAnswer(first.body).operations, to: pod)
        let sidecar = try #require(injected["spec"]?["initContainers"]?.array?.first)
        #expect(sidecar["env"]?.array?.contains { $0["name"] == "AZURE_FEDERATED_TOKEN_FILE" } == false)

        // What Azure Workload Identity adds to the app container and the pod.
        var after = injected.object ?? [:]
        var afterSpec = after["spec"]?.object ?? [:]
        afterSpec["containers"] = [identity]
        var volumes = afterSpec["volumes"]?.array ?? []
        volumes += projected?.array ?? []
        afterSpec["volumes"] = .array(volumes)
        after["spec"] = .object(afterSpec)
        injected = .object(after)

        let second = handler(native: true).answer(AdmissionFixtures.review(injected))
        #expect(second.result == .injected)
        let completed = try JSONPatch.apply(try AdmissionAnswer(second.body).operations, to: injected)
        let expected = try AdmissionFixtures.expected("workload-identity.expected.json")
        #expect(completed["spec"]?["initContainers"] == expected["spec"]?["initContainers"])

        // And a third time: nothing left to do.
        #expect(handler(native: true).answer(AdmissionFixtures.review(completed)).result == .unchanged)
    }

    @Test(
        "The sidecar gets the pod's proxy variables as they are, the chart's extra environment and log level; the pod's own variable wins"
    )
    func proxyAndExtraEnvironment() throws {
        var pod = try AdmissionFixtures.pod("plain").object ?? [:]
        var spec = pod["spec"]?.object ?? [:]
        var containers = spec["containers"]?.array ?? []
        var app = containers[0].object ?? [:]
        let noProxy: JSONValue = [
            "name": "NO_PROXY", "valueFrom": ["configMapKeyRef": ["name": "proxy", "key": "no-proxy"]],
        ]
        app["env"] = [
            ["name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"], noProxy, ["name": "OTHER", "value": "x"],
        ]
        containers[0] = .object(app)
        spec["containers"] = .array(containers)
        pod["spec"] = .object(spec)

        var settings = AdmissionFixtures.settings
        settings.logLevel = "debug"
        settings.environment = [
            ["name": "HTTPS_PROXY", "value": "http://cluster-proxy:3128"], ["name": "SSL_CERT_DIR", "value": "/certs"],
        ]
        let answer = AdmissionHandler(injector: Injector(settings: settings)).answer(
            AdmissionFixtures.review(.object(pod)))
        let injected = try JSONPatch.apply(try AdmissionAnswer(answer.body).operations, to: .object(pod))
        let sidecar = try #require(injected["spec"]?["initContainers"]?.array?.first)
        let environment = sidecar["env"]?.array ?? []
        func value(_ name: String) -> JSONValue? { environment.first { $0["name"]?.string == name } }
        #expect(value("HTTPS_PROXY")?["value"] == "http://proxy.corp:3128", "the pod's proxy wins")
        #expect(value("NO_PROXY") == noProxy, "copied as it is, valueFrom included")
        #expect(value("SSL_CERT_DIR")?["value"] == "/certs")
        #expect(value("MR_TOKEN_SIDECAR_LOG_LEVEL")?["value"] == "debug")
        #expect(value("OTHER") == nil, "only the proxy variables are copied")
        #expect(environment.filter { $0["name"] == "HTTPS_PROXY" }.count == 1)
    }

    @Test("A legacy-mode pod that does not restart gets the init container only, with a warning")
    func legacyJobWarning() throws {
        let answer = handler(native: false).answer(AdmissionFixtures.review(try AdmissionFixtures.pod("job")))
        let warnings = try AdmissionAnswer(answer.body).response["warnings"]?.array ?? []
        #expect(warnings.count == 1)
        #expect(warnings.first?.string?.contains("restartPolicy Never") == true)
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        var description: String
        var annotations: [String: String]
        var names: [String]
        var testDescription: String { description }
    }

    static let id = "mixedreality.azure.com/account-id"
    static let domain = "mixedreality.azure.com/account-domain"
    static let good = [id: "6a8b0c3e-1111-4222-8333-944455556666", domain: "eastus2.mixedreality.azure.com"]

    static let bad: [Bad] = [
        Bad(
            description: "account id not a UUID",
            annotations: [id: "6a8b0c3e-1111-4222-8333", domain: "eastus2.mixedreality.azure.com"], names: [id]),
        Bad(
            description: "no account at all", annotations: [:],
            names: ["mixedreality.azure.com/config-map", id, domain]),
        Bad(description: "domain missing", annotations: [id: "6a8b0c3e-1111-4222-8333-944455556666"], names: [domain]),
        Bad(
            description: "domain not a host",
            annotations: [id: "6a8b0c3e-1111-4222-8333-944455556666", domain: "https://x"], names: [domain]),
        Bad(
            description: "unknown annotation",
            annotations: good.merging(["mixedreality.azure.com/acount-id": "x"]) { a, _ in a },
            names: ["mixedreality.azure.com/acount-id"]),
        Bad(
            description: "config-map and account",
            annotations: good.merging(["mixedreality.azure.com/config-map": "accounts"]) { a, _ in a },
            names: ["mixedreality.azure.com/config-map", id]),
        Bad(
            description: "config-map not a name", annotations: ["mixedreality.azure.com/config-map": "My_Accounts"],
            names: ["mixedreality.azure.com/config-map"]),
        Bad(
            description: "credential needing a file",
            annotations: good.merging(["mixedreality.azure.com/credential": "accountKey"]) { a, _ in a },
            names: ["mixedreality.azure.com/credential", "mixedreality.azure.com/config-map"]),
        Bad(
            description: "credential unknown",
            annotations: good.merging(["mixedreality.azure.com/credential": "magic"]) { a, _ in a },
            names: ["mixedreality.azure.com/credential"]),
        Bad(
            description: "output format unknown",
            annotations: good.merging(["mixedreality.azure.com/output-format": "yaml"]) { a, _ in a },
            names: ["mixedreality.azure.com/output-format"]),
        Bad(
            description: "container absent",
            annotations: good.merging(["mixedreality.azure.com/containers": "app,sidecar"]) { a, _ in a },
            names: ["mixedreality.azure.com/containers", "sidecar"]),
        Bad(
            description: "image with spaces",
            annotations: good.merging(["mixedreality.azure.com/image": "my image"]) { a, _ in a },
            names: ["mixedreality.azure.com/image"]),
        Bad(
            description: "resources not JSON",
            annotations: good.merging(["mixedreality.azure.com/resources": "cpu=5m"]) { a, _ in a },
            names: ["mixedreality.azure.com/resources"]),
        Bad(
            description: "resources bad quantity",
            annotations: good.merging(["mixedreality.azure.com/resources": #"{"limits":{"memory":"lots"}}"#]) { a, _ in
                a
            }, names: ["mixedreality.azure.com/resources", "limits.memory"]),
    ]

    @Test("A pod whose annotations are wrong is denied, naming the annotation", arguments: bad)
    func denied(_ bad: Bad) throws {
        var pod = try AdmissionFixtures.pod("bad-annotation")
        var object = pod.object ?? [:]
        var metadata = object["metadata"]?.object ?? [:]
        metadata["annotations"] = .object(bad.annotations.mapValues { .string($0) })
        object["metadata"] = .object(metadata)
        pod = .object(object)
        let answer = handler(native: true).answer(AdmissionFixtures.review(pod))
        #expect(answer.status == 200)
        #expect(answer.result == .denied)
        let decoded = try AdmissionAnswer(answer.body)
        #expect(!decoded.allowed)
        #expect(decoded.response["patch"] == nil)
        #expect(decoded.response["status"]?["code"] == 403)
        for name in bad.names { #expect(decoded.message.contains(name), "\(decoded.message)") }
    }

    @Test("The bad-annotation fixture is denied with its annotation named")
    func badFixture() throws {
        let answer = handler(native: true).answer(AdmissionFixtures.review(try AdmissionFixtures.pod("bad-annotation")))
        let decoded = try AdmissionAnswer(answer.body)
        #expect(!decoded.allowed)
        #expect(decoded.message.contains("mixedreality.azure.com/account-id"))
        #expect(decoded.message.contains("is not a UUID"))
    }

    @Test("A pod that mounts its own folder at the token path, or has a volume of our name, is denied")
    func conflicts() throws {
        var pod = try AdmissionFixtures.pod("plain")
        var object = pod.object ?? [:]
        var spec = object["spec"]?.object ?? [:]
        var container = spec["containers"]?.array?.first?.object ?? [:]
        container["volumeMounts"] = [["name": "mine", "mountPath": "/var/run/mixedreality"]]
        spec["containers"] = [.object(container)]
        spec["volumes"] = [["name": "mine", "emptyDir": [:]]]
        object["spec"] = .object(spec)
        pod = .object(object)
        let answer = try AdmissionAnswer(handler(native: true).answer(AdmissionFixtures.review(pod)).body)
        #expect(!answer.allowed)
        #expect(answer.message.contains("container viewer already mounts something at /var/run/mixedreality"))

        spec["containers"] = pod["spec"]?["containers"].map { _ in
            [.object(container.filter { $0.key != "volumeMounts" })]
        }
        spec["volumes"] = [["name": "mr-token-sidecar-tokens", "emptyDir": [:]]]
        object["spec"] = .object(spec)
        let second = try AdmissionAnswer(handler(native: true).answer(AdmissionFixtures.review(.object(object))).body)
        #expect(!second.allowed)
        #expect(second.message.contains("volume named mr-token-sidecar-tokens"))
    }

    @Test("Every config the annotations can describe is one the sidecar accepts")
    func generatedConfigs() throws {
        let environment = [
            "AZURE_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "AZURE_CLIENT_ID": "0f2c6c6e-7a1d-4c1e-9a3f-5c2a3b4d5e6f",
            "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
        ]
        for credential in InjectionRequest.Credential.allCases {
            for format in OutputConfiguration.Format.allCases {
                for mode in ["0440", "0444"] {
                    let yaml = Injector.configYAML(
                        accountId: "6a8b0c3e-1111-4222-8333-944455556666",
                        accountDomain: "eastus2.mixedreality.azure.com",
                        credential: credential, format: format, mode: mode)
                    let configuration = try ConfigLoader.parse(
                        yaml, file: "$MR_TOKEN_SIDECAR_CONFIG",
                        environment: environment.merging([ConfigLoader.serverAddressVariable: "0.0.0.0:8787"]) { a, _ in
                            a
                        })
                    #expect(configuration.accounts.first?.output.format == format)
                    #expect(configuration.accounts.first?.output.path.hasPrefix("/var/run/mixedreality/token") == true)
                    #expect(configuration.server.address == "0.0.0.0:8787")
                }
            }
        }
    }

    @Test("Requests that are neither pod creations nor updates are allowed untouched; non-reviews get a 400")
    func otherRequests() throws {
        let handler = handler(native: true)
        let pod = try AdmissionFixtures.pod("plain")
        let delete = handler.answer(AdmissionFixtures.review(pod, operation: "DELETE"))
        #expect(delete.result == .skipped)
        #expect(try AdmissionAnswer(delete.body).allowed)
        // An UPDATE needs the old object to compare the sidecar with.
        #expect(handler.answer(AdmissionFixtures.review(pod, operation: "UPDATE")).result == .invalid)
        for body in [
            "", "{", "[]", #"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#,
            #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#,
            #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE"}}"#,
        ] {
            let answer = handler.answer(Array(body.utf8))
            #expect(answer.status == 400, "\(body)")
            #expect(answer.result == .invalid)
        }
        let notAPod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "x"], "spec": [:]]
        let denied = try AdmissionAnswer(handler.answer(AdmissionFixtures.review(notAPod)).body)
        #expect(!denied.allowed)
    }
}
