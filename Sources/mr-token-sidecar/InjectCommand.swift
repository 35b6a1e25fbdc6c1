import ArgumentParser
import AzureCore
import DaemonSupport
import SidecarInjector

/// `mr-token-sidecar inject`: the webhook's injection at build time, manifests in, manifests out.
struct InjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inject",
        abstract: "Add the sidecar to the pod templates of Kubernetes manifests that ask for it, as the webhook does.",
        discussion: """
            Reads YAML manifests (several documents, or a kind: List) and writes them to standard \
            output with mr-token-sidecar added to every pod template labelled \
            mixedreality.azure.com/inject: "true": Pods, and the templates of Deployments, \
            StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs and CronJobs. It \
            applies the webhook's own patch, with the webhook's flags or the chart's values \
            (--values), so that a pod injected here and one the webhook injects are the same. Every \
            other document comes out as it went in, byte for byte; a document that gets the \
            sidecar is written anew, keeping its key order and scalar styles but not its comments \
            or anchors. Running it on its own output changes nothing, so it can run in CI or as a \
            Helm post-renderer (standard input to standard output).

            A pod the webhook would refuse (its policy, a bad annotation, a subPath mount of the \
            token volume) is an error naming the document and the reason, exit status 1, and \
            nothing is written to standard output. What the webhook would answer as a warning is \
            written to standard error. See docs/kubernetes.md.
            """)

    @Option(
        name: [.customShort("f"), .customLong("filename")],
        help: ArgumentHelp("The manifests to read; - or no -f: standard input.", valueName: "file"))
    var filename: String?

    @Option(
        name: .customLong("values"),
        help: ArgumentHelp(
            "A values file of the chart (repeatable; each merged over the chart's defaults in order, as helm -f does): the injected sidecar's settings, as the webhook installed with these values has them. A flag below wins over it.",
            valueName: "file"))
    var values: [String] = []

    @OptionGroup(title: "Injected sidecars")
    var injection: InjectionOptions

    /// Manifests larger than this are refused (`helm template` of a large umbrella chart is a few MiB).
    static let maxBytes = 64 * 1_048_576

    /// The settings: the flags, over the values files' flags.
    private func settings() throws -> InjectorSettings {
        guard !values.isEmpty else { return try injection.settings() }
        var files: [(name: String, text: String)] = []
        for path in values {
            switch StandardStreams.readAll(path, maxBytes: Self.maxBytes) {
            case .success(let bytes):
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw ValidationError("--values \(path): not UTF-8 text")
                }
                files.append((path, text))
            case .failure(let error):
                throw ValidationError("--values \(path): \(error.reason)")
            }
        }
        let source = values.joined(separator: ", ")
        do {
            let merged = try ChartValues.merged(files)
            let flags = try ChartValues.flags(merged, appVersion: ProductInfo.version, file: source)
            return try injection.settings(values: flags, valuesSource: source)
        } catch let problem as ChartValues.Problem {
            throw ValidationError("--values \(problem.message)")
        }
    }

    func run() throws {
        // First: a usage error (a flag, a values file) exits 2 before any input is read.
        let injector = ManifestInjector(injector: Injector(settings: try settings()))
        let path = filename == "-" ? nil : filename
        let source = path ?? "standard input"
        let bytes: [UInt8]
        switch StandardStreams.readAll(path, maxBytes: Self.maxBytes) {
        case .success(let read): bytes = read
        case .failure(let error):
            StandardStreams.error("mr-token-sidecar inject: \(source): \(error.reason)\n")
            throw ExitCode(1)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            StandardStreams.error("mr-token-sidecar inject: \(source): not UTF-8 text\n")
            throw ExitCode(1)
        }
        let outcome = injector.inject(text, source: source)
        for warning in outcome.warnings { StandardStreams.error("warning: \(warning)\n") }
        guard outcome.errors.isEmpty else {
            for error in outcome.errors { StandardStreams.error("error: \(error)\n") }
            throw ExitCode(1)
        }
        StandardStreams.output(outcome.output)
    }
}
