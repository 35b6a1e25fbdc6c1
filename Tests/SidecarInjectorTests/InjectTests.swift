import AzureCore
import Foundation
import SidecarConfig
import TestSupport
import Testing

@testable import SidecarInjector

/// Build-time injection (`mr-token-sidecar inject`): the webhook's patch, applied to manifests.
@Suite("inject: the webhook's injection into manifests")
struct InjectTests {
    /// The kinds `inject` finds pod templates in, with the path of the template.
    static let kinds = ManifestInjector.templatePaths.keys.sorted()

    static func injector(native: Bool) -> ManifestInjector {
        var settings = AdmissionFixtures.settings
        settings.nativeSidecar = native
        return ManifestInjector(injector: Injector(settings: settings))
    }

    static func yaml(_ value: JSONValue) -> String { ManifestYAML.emit(ManifestYAML.node(value)) }

    /// The pod as the template of a workload of `kind` (the pod itself for `Pod`).
    static func workload(_ pod: JSONValue, kind: String) -> JSONValue {
        guard let path = ManifestInjector.templatePaths[kind], !path.isEmpty else { return pod }
        let template: JSONValue = ["metadata": pod["metadata"] ?? [:], "spec": pod["spec"] ?? [:]]
        var node = template
        for key in path.reversed() {
            node = key == "template" ? ["selector": ["matchLabels": ["app": "x"]], "template": node] : [key: node]
        }
        var object = node.object ?? [:]
        object["apiVersion"] = kind == "CronJob" || kind == "Job" ? "batch/v1" : "apps/v1"
        object["kind"] = .string(kind)
        object["metadata"] = ["name": "w", "namespace": pod["metadata"]?["namespace"] ?? "default"]
        return .object(object)
    }

    /// The pod template of a workload read back from YAML, as a pod.
    static func template(of document: JSONValue, kind: String) -> JSONValue? {
        var node: JSONValue? = document
        for key in ManifestInjector.templatePaths[kind] ?? [] { node = node?[key] }
        return node
    }

    @Test(
        "inject and the webhook give the same pod for every admission fixture, as a Pod and as the template of every workload kind",
        arguments: InjectorTests.cases)
    func sameAsWebhook(_ fixture: InjectorTests.Case) throws {
        let pod = try AdmissionFixtures.pod(fixture.pod)
        var handlerSettings = AdmissionFixtures.settings
        handlerSettings.nativeSidecar = fixture.native
        let handler = AdmissionHandler(injector: Injector(settings: handlerSettings))
        for kind in Self.kinds {
            let object = Self.workload(pod, kind: kind)
            let templatePod = try #require(Self.template(of: object, kind: kind))
            let answer = try AdmissionAnswer(handler.answer(AdmissionFixtures.review(templatePod)).body)
            let expected = try JSONPatch.apply(try answer.operations, to: templatePod)

            let outcome = Self.injector(native: fixture.native).inject(Self.yaml(object), source: "fixture")
            #expect(outcome.errors.isEmpty, "\(kind): \(outcome.errors)")
            let documents = try ManifestYAML.documents(in: outcome.output)
            #expect(documents.count == 1)
            let written = ManifestYAML.json(try #require(documents.first?.root))
            #expect(Self.template(of: written, kind: kind) == expected, "\(fixture.expected) as a \(kind)")
            if kind == "Pod" { #expect(written == (try AdmissionFixtures.expected(fixture.expected))) }
            // The webhook's warnings, on standard error.
            #expect(outcome.warnings.count == (answer.response["warnings"]?.array?.count ?? 0), "\(kind)")
        }
    }

    static let passThrough = """
        # A stream as helm template writes it: comments, other kinds, an empty document.
        ---
        # Source: shop/templates/config.yaml
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: shop   # kept
        data:
          config.yaml: |
            accounts: []
          flag: yes
          quoted: 'single'
        ---
        # Source: shop/templates/empty.yaml
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: plain, namespace: shop}
        spec:
          selector: {matchLabels: {app: plain}}
          template:
            metadata: {labels: {app: plain}}   # no inject label: left alone
            spec:
              containers:
                - name: app
                  image: app:1
                  volumeMounts: [{name: data, mountPath: /data, subPath: x}]
              volumes: [{name: data, emptyDir: {}}]
        ---
        apiVersion: v1
        kind: List
        items:
          - {apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: 80}]}}
        ...

        """

    @Test(
        "documents that do not ask (other kinds, templates without the label, comments, empty documents, a List) come out byte for byte"
    )
    func passThroughUnchanged() {
        let outcome = Self.injector(native: true).inject(Self.passThrough, source: "stream")
        #expect(outcome.errors.isEmpty)
        #expect(outcome.warnings.isEmpty)
        #expect(outcome.output == Self.passThrough)
        for text in ["", "# only a comment\n", "\n\n"] {
            #expect(Self.injector(native: true).inject(text, source: "s").output == text)
        }
    }

    /// A stream mixing documents that ask with ones that do not, in several styles.
    static let mixed = """
        # Ünïcode before everything: offsets are bytes, libyaml's marks characters.
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        data: {a: "é"}
        ---
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: report, namespace: shop}
        spec:
          schedule: "*/5 * * * *"
          jobTemplate:
            spec:
              template:
                metadata:
                  labels: {mixedreality.azure.com/inject: "true"}
                  annotations:
                    mixedreality.azure.com/account-id: 6a8b0c3e-1111-4222-8333-944455556666
                    mixedreality.azure.com/account-domain: eastus2.mixedreality.azure.com
                    mixedreality.azure.com/credential: managedIdentity
                spec:
                  restartPolicy: OnFailure
                  containers: [{name: report, image: "r:1", args: ["café", "--flag"]}]
        --- {apiVersion: v1, kind: Pod, metadata: {name: inline, labels: {mixedreality.azure.com/inject: "true"}, annotations: {mixedreality.azure.com/config-map: cfg}}, spec: {containers: [{name: x, image: "x:1"}]}}
        ---
        apiVersion: v1
        kind: List
        items:
        - apiVersion: apps/v1
          kind: StatefulSet
          metadata: {name: db}
          spec:
            selector: {matchLabels: {app: db}}
            serviceName: db
            template:
              metadata:
                labels: {app: db, mixedreality.azure.com/inject: "true"}
                annotations: {mixedreality.azure.com/config-map: db-tokens}
              spec:
                volumes:
                containers:
                  - name: db
                    image: db:1
        - {apiVersion: v1, kind: Service, metadata: {name: db}, spec: {ports: [{port: 5432}]}}

        """

    @Test(
        "deterministic (the same bytes each time) and idempotent (its own output comes back unchanged), native and legacy"
    )
    func idempotent() throws {
        for native in [true, false] {
            let injector = Self.injector(native: native)
            let first = injector.inject(Self.mixed, source: "mixed")
            #expect(first.errors.isEmpty, "\(first.errors)")
            #expect(first.output != Self.mixed)
            #expect(first.output.hasPrefix("# Ünïcode before everything"), "the comments before a document stay")
            #expect(injector.inject(Self.mixed, source: "mixed").output == first.output)
            let second = injector.inject(first.output, source: "again")
            #expect(second.errors.isEmpty, "\(second.errors)")
            #expect(second.output == first.output)
            // Every labelled template got the sidecar; the ConfigMap and the Service did not change.
            let documents = try ManifestYAML.documents(in: first.output)
            #expect(documents.count == 4)
            #expect(documents[0].text == (try ManifestYAML.documents(in: Self.mixed))[0].text)
            let cron = ManifestYAML.json(try #require(documents[1].root))
            let cronSpec = try #require(Self.template(of: cron, kind: "CronJob")?["spec"])
            #expect(cronSpec["containers"]?.array?.first?["args"] == ["café", "--flag"])
            #expect(cronSpec["initContainers"]?.array?.first?["name"]?.string?.hasPrefix("mr-token-sidecar") == true)
            let list = ManifestYAML.json(try #require(documents[3].root))
            let set = try #require(list["items"]?.array?.first)
            #expect(Self.template(of: set, kind: "StatefulSet")?["spec"]?["volumes"]?.array?.count == 2)
            #expect(
                list["items"]?.array?.last == [
                    "apiVersion": "v1", "kind": "Service", "metadata": ["name": "db"],
                    "spec": ["ports": [["port": 5432]]],
                ])
            let inline = ManifestYAML.json(try #require(documents[2].root))
            #expect(inline["metadata"]?["annotations"]?[InjectionRequest.versionAnnotation] == "0.1.0")
        }
    }

    @Test(
        "a byte order mark and CRLF line ends: documents that do not change keep them, a changed one still starts on a line of its own"
    )
    func byteOrderMarkAndCRLF() throws {
        let pod = """
            apiVersion: v1\r
            kind: Pod\r
            metadata: {name: b, labels: {mixedreality.azure.com/inject: "true"}, annotations: {mixedreality.azure.com/config-map: c}}\r
            spec: {containers: [{name: x, image: "x:1"}]}\r

            """
        let config = "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: a}\r\n"
        let injector = Self.injector(native: true)
        let unchanged = "\u{FEFF}" + config + "---\r\n" + config
        #expect(injector.inject(unchanged, source: "s").output == unchanged)
        for (stream, start) in [
            ("\u{FEFF}" + pod, "\u{FEFF}apiVersion: v1\n"),
            (config + "---\r\n" + pod, config + "---\r\napiVersion: v1\n"),
            (
                config
                    + "--- {apiVersion: v1, kind: Pod, metadata: {name: f, labels: {mixedreality.azure.com/inject: \"true\"}, annotations: {mixedreality.azure.com/config-map: c}}, spec: {containers: [{name: x, image: x}]}}\r\n",
                config + "--- \n{apiVersion: v1, kind: Pod"
            ),
        ] {
            let outcome = injector.inject(stream, source: "s")
            #expect(outcome.errors.isEmpty, "\(outcome.errors)")
            #expect(outcome.output.hasPrefix(start), "\(outcome.output.prefix(120).debugDescription)")
            #expect(injector.inject(outcome.output, source: "again").output == outcome.output)
        }
    }

    @Test("a denial is an error naming the document, the object and the annotation; nothing is written")
    func denial() {
        let stream = """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: fine}
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: viewer, namespace: shop}
            spec:
              selector: {matchLabels: {app: viewer}}
              template:
                metadata:
                  labels: {app: viewer, mixedreality.azure.com/inject: "true"}
                  annotations:
                    mixedreality.azure.com/account-id: not-a-guid
                    mixedreality.azure.com/account-domain: eastus2.mixedreality.azure.com
                spec:
                  containers: [{name: viewer, image: "v:1"}]

            """
        let outcome = Self.injector(native: true).inject(stream, source: "shop.yaml")
        #expect(outcome.output.isEmpty)
        #expect(outcome.errors.count == 1)
        let error = outcome.errors.first ?? ""
        #expect(error.hasPrefix("shop.yaml: document 2 at line 4 (Deployment shop/viewer): "), "\(error)")
        #expect(error.contains("mixedreality.azure.com/account-id"), "\(error)")
        // Bad YAML is an error with its line.
        let broken = Self.injector(native: true).inject("a: [1\n", source: "broken.yaml")
        #expect(broken.output.isEmpty)
        #expect(broken.errors.first?.hasPrefix("broken.yaml: line ") == true, "\(broken.errors)")
    }

    /// A pod that declares the sidecar by hand, its app mounting the token volume as `mount`.
    static func manual(mount: JSONValue, labelled: Bool) -> JSONValue {
        var labels: [String: JSONValue] = ["app": "manual"]
        if labelled { labels[InjectionRequest.injectLabel] = "true" }
        return [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": "manual", "namespace": "shop", "labels": .object(labels)],
            "spec": [
                "initContainers": [
                    [
                        "name": "tokens", "image": "registry.example/mr-token-sidecar:0.1.0", "restartPolicy": "Always",
                        "volumeMounts": [["name": "tokens", "mountPath": "/var/run/mixedreality"]],
                    ]
                ],
                "containers": [["name": "app", "image": "app:1", "volumeMounts": [mount]]],
                "volumes": [["name": "tokens", "emptyDir": ["medium": "Memory"]]],
            ],
        ]
    }

    @Test(
        "a subPath or subPathExpr mount of the token volume is refused by the webhook and by inject, naming the container; a folder mount is not",
        arguments: ["subPath", "subPathExpr"])
    func subPathRefused(_ key: String) throws {
        let mount: JSONValue = [
            "name": "tokens", "mountPath": "/app/token", .init(stringLiteral: key): "token", "readOnly": true,
        ]
        // A pod that asks, with the sidecar the injector added and a subPath mount added since.
        var injected = try AdmissionFixtures.expected("plain.expected.json")
        var spec = injected["spec"]?.object ?? [:]
        var app = spec["containers"]?.array?.first?.object ?? [:]
        app["volumeMounts"] = [
            ["name": .string(Injector.tokenVolume), "mountPath": "/app/token", .init(stringLiteral: key): "token"]
        ]
        spec["containers"] = [.object(app)]
        var object = injected.object ?? [:]
        object["spec"] = .object(spec)
        injected = .object(object)
        let handler = AdmissionHandler(injector: Injector(settings: AdmissionFixtures.settings))
        for pod in [injected, Self.manual(mount: mount, labelled: true)] {
            let answer = handler.answer(AdmissionFixtures.review(pod))
            #expect(answer.result == .denied)
            let message = try AdmissionAnswer(answer.body).message
            #expect(message.contains("container viewer") || message.contains("container app"), "\(message)")
            #expect(message.contains(key) && message.contains("kubernetes/kubernetes#50345"), "\(message)")
        }
        // inject refuses it whether or not the pod asks for injection: plain manifests too.
        for labelled in [true, false] {
            let outcome = Self.injector(native: true).inject(
                Self.yaml(Self.manual(mount: mount, labelled: labelled)), source: "manual.yaml")
            #expect(outcome.output.isEmpty)
            #expect(
                outcome.errors.first?.contains(
                    "(Pod shop/manual): container app mounts the token volume tokens with \(key)") == true,
                "\(outcome.errors)")
        }
        // The folder mounted read-only, as the fix says: accepted.
        let folder: JSONValue = ["name": "tokens", "mountPath": "/var/run/mixedreality", "readOnly": true]
        let fine = Self.injector(native: true).inject(
            Self.yaml(Self.manual(mount: folder, labelled: false)), source: "m")
        #expect(fine.errors.isEmpty)
    }

    @Test(
        "warnings, not denials: an image override without a version, a declared sidecar whose tokens no container mounts, annotations without the label"
    )
    func warnings() throws {
        var pod = try AdmissionFixtures.pod("plain")
        var metadata = pod["metadata"]?.object ?? [:]
        var annotations = metadata["annotations"]?.object ?? [:]
        annotations[InjectionRequest.Key.image.annotation] = "registry.example/mr-token-sidecar:latest"
        metadata["annotations"] = .object(annotations)
        var object = pod.object ?? [:]
        object["metadata"] = .object(metadata)
        pod = .object(object)
        let handler = AdmissionHandler(injector: Injector(settings: AdmissionFixtures.settings))
        let answer = try AdmissionAnswer(handler.answer(AdmissionFixtures.review(pod)).body)
        #expect(answer.allowed)
        #expect(answer.response["warnings"]?.array?.first?.string?.contains("no version tag or digest") == true)

        // A sidecar whose volume no app container mounts: allowed, with a warning. From the webhook
        // (the injected pod, its app's mount removed since) and from inject (declared by hand).
        var injected = try AdmissionFixtures.expected("plain.expected.json")
        var injectedSpec = injected["spec"]?.object ?? [:]
        var app = injectedSpec["containers"]?.array?.first?.object ?? [:]
        app["volumeMounts"] = nil
        injectedSpec["containers"] = [.object(app)]
        var injectedObject = injected.object ?? [:]
        injectedObject["spec"] = .object(injectedSpec)
        injected = .object(injectedObject)
        let unread = handler.answer(AdmissionFixtures.review(injected))
        #expect(unread.result == .unchanged)
        #expect(
            try AdmissionAnswer(unread.body).response["warnings"]?.array?.first?.string?.contains(
                "no container of this pod mounts the token volume (mr-token-sidecar-tokens)") == true)

        let unmounted = Self.manual(mount: ["name": "other", "mountPath": "/other"], labelled: false)
        var spec = unmounted["spec"]?.object ?? [:]
        spec["volumes"] = [["name": "tokens", "emptyDir": [:]], ["name": "other", "emptyDir": [:]]]
        var manual = unmounted.object ?? [:]
        manual["spec"] = .object(spec)
        let outcome = Self.injector(native: true).inject(Self.yaml(.object(manual)), source: "m")
        #expect(outcome.errors.isEmpty)
        #expect(outcome.output == Self.yaml(.object(manual)))
        #expect(outcome.warnings.count == 1)
        #expect(
            outcome.warnings.first?.contains(
                "(Pod shop/manual): mr-token-sidecar: no container of this pod mounts the token volume (tokens)")
                == true)

        let annotatedOnly = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: p
              annotations: {mixedreality.azure.com/config-map: tokens}
            spec:
              containers: [{name: a, image: "a:1"}]

            """
        let unlabelled = Self.injector(native: true).inject(annotatedOnly, source: "p.yaml")
        #expect(unlabelled.output == annotatedOnly)
        #expect(unlabelled.warnings.first?.contains("not the label mixedreality.azure.com/inject") == true)
    }

    @Test(
        "read as Kubernetes reads YAML: a label given through a merge key asks too; a kind whose pod template inject does not know is left alone, with a warning"
    )
    func kubernetesYAML() throws {
        let stream = """
            x-labels: &asks {mixedreality.azure.com/inject: "true"}
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: merged
              labels: {<<: *asks, app: m}
              annotations: {mixedreality.azure.com/config-map: c}
            spec: {containers: [{name: x, image: "x:1"}]}
            ---
            apiVersion: argoproj.io/v1alpha1
            kind: Rollout
            metadata: {name: r}
            spec:
              template:
                metadata: {labels: {mixedreality.azure.com/inject: "true"}}
                spec: {containers: [{name: x, image: "x:1"}]}

            """
        let outcome = Self.injector(native: true).inject(stream, source: "k.yaml")
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        let documents = try ManifestYAML.documents(in: outcome.output)
        let pod = ManifestYAML.json(try #require(documents[1].root))
        #expect(pod["metadata"]?["labels"]?["app"] == "m")
        #expect(pod["spec"]?["initContainers"]?.array?.count == 1)
        #expect(documents[2].text == (try ManifestYAML.documents(in: stream))[2].text)
        #expect(outcome.warnings.count == 1)
        #expect(outcome.warnings.first?.contains("(Rollout): its spec.template asks for the sidecar") == true)
        // Plain scalars as YAML 1.1 reads them; quoted ones are strings.
        #expect(ManifestYAML.plainValue("yes") == .bool(true) && ManifestYAML.plainValue("off") == .bool(false))
        #expect(ManifestYAML.plainValue("8080") == .number(8080) && ManifestYAML.plainValue("~") == .null)
        #expect(ManifestYAML.plainValue("0440") == .number(288), "octal, as Kubernetes reads defaultMode: 0440")
        #expect(ManifestYAML.plainValue("v1") == "v1" && ManifestYAML.plainValue("0x1F") == .number(31))
        for text in ["yes", "true", "0440", "1Mi", "", "a: b", "-x", "null", "0.0.0.0:8787", "é"] {
            let written = ManifestYAML.emit(ManifestYAML.node(["k": .string(text)]))
            #expect(
                ManifestYAML.json(try #require(try ManifestYAML.documents(in: written).first?.root)) == [
                    "k": .string(text)
                ], "\(text)")
        }
    }

    @Test("ChartValues.defaults are the chart's values.yaml; values files merge over them as helm -f does")
    func chartDefaults() throws {
        let file = URL(filePath: #filePath).deletingLastPathComponent().appending(
            path: "../../charts/mr-token-sidecar/values.yaml")
        let text = try String(contentsOf: file, encoding: .utf8)
        let chart = ManifestYAML.json(try #require(try ManifestYAML.documents(in: text).first?.root))
        /// The chart's values at the paths the defaults have.
        func subset(_ defaults: JSONValue, of values: JSONValue?) -> JSONValue? {
            guard case .object(let members) = defaults else { return values }
            return .object(members.reduce(into: [:]) { $0[$1.key] = subset($1.value, of: values?[$1.key]) ?? .null })
        }
        #expect(subset(ChartValues.defaults, of: chart) == ChartValues.defaults)

        let merged = try ChartValues.merged([
            ("a.yaml", "sidecar:\n  port: 9000\n  allowedHosts: [one]\npolicy:\n  maxResources: {cpu: null}\n"),
            ("b.yaml", "sidecar:\n  allowedHosts: [two]\nimage: {tag: \"2.0\"}\n"),
        ])
        let flags = try ChartValues.flags(merged, appVersion: "0.1.0", file: "a.yaml, b.yaml")
        #expect(flags["sidecar-port"] == "9000")
        #expect(flags["sidecar-allowed-hosts"] == "two", "a list is replaced, not merged")
        #expect(flags["max-sidecar-cpu"] == nil, "null removes a default")
        #expect(flags["max-sidecar-memory"] == "256Mi")
        #expect(flags["sidecar-image"] == "mr-token-sidecar:2.0")
        #expect(throws: ChartValues.Problem.self) {
            try ChartValues.flags(
                try ChartValues.merged([("c.yaml", "sidecar: {port: [1]}\n")]), appVersion: "0", file: "c")
        }
    }

    @Test(
        "mr-token-sidecar inject: standard input to standard output; --values like the flags; a denial exits 1 with nothing on standard output; a usage error exits 2"
    )
    func command() async throws {
        try await withTemporaryDirectory { directory in
            let manifests = directory.appending(path: "in.yaml")
            try Data(Self.mixed.utf8).write(to: manifests)
            let values = URL(filePath: #filePath).deletingLastPathComponent().appending(
                path: "../../charts/mr-token-sidecar/values.yaml")
            let flags = [
                "--sidecar-image", "mr-token-sidecar:\(ReleaseVersion.current)", "--allowed-credentials",
                "managedIdentity",
                "--max-sidecar-cpu", "500m", "--max-sidecar-memory", "256Mi",
            ]
            let fromStandardInput = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["inject"] + flags, standardInput: manifests)
            #expect(await fromStandardInput.exitStatus() == 0, "\(fromStandardInput.standardError)")
            let output = fromStandardInput.standardOutput
            #expect(output.contains("name: mr-token-sidecar"))
            let dash = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["inject", "-f", "-"] + flags, standardInput: manifests)
            #expect(await dash.exitStatus() == 0)
            #expect(dash.standardOutput == output)
            let withValues = try ChildProcess.start(
                executable: "mr-token-sidecar",
                arguments: [
                    "inject", "-f", manifests.path, "--values", values.path, "--allowed-credentials", "managedIdentity",
                ])
            #expect(await withValues.exitStatus() == 0, "\(withValues.standardError)")
            #expect(withValues.standardOutput == output, "the chart's values give what the chart's flags give")

            let denied = try ChildProcess.start(
                executable: "mr-token-sidecar", arguments: ["inject", "-f", manifests.path, "--values", values.path])
            #expect(await denied.exitStatus() == 1)
            #expect(denied.standardOutput.isEmpty)
            #expect(
                denied.standardError.contains("error: \(manifests.path): document 2 at line 6 (CronJob shop/report): "),
                "\(denied.standardError)")
            #expect(denied.standardError.contains("managedIdentity"), "\(denied.standardError)")

            for (arguments, named) in [
                (["inject", "-f", manifests.path], "--sidecar-image"),
                (
                    ["inject", "-f", manifests.path, "--values", directory.appending(path: "none.yaml").path],
                    "none.yaml"
                ),
                (["inject", "-f", manifests.path, "--sidecar-image", "x:1", "--sidecar-port", "0"], "--sidecar-port"),
            ] {
                let child = try ChildProcess.start(executable: "mr-token-sidecar", arguments: arguments)
                #expect(await child.exitStatus() == 2, "\(arguments)")
                #expect(child.standardError.contains(named), "\(child.standardError)")
                #expect(child.standardOutput.isEmpty)
            }
        }
    }
}
