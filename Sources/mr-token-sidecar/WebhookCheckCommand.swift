import ArgumentParser
import AzureCore
import DaemonSupport
import Logging
import NIOHTTP1
import SidecarConfig

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mr-token-sidecar webhook-check`: sends the webhook one AdmissionReview, as the API server
/// would, and checks the answer (the chart's `helm test`).
struct WebhookCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook-check",
        abstract: "Sends the webhook an AdmissionReview as the API server would and checks its answer.",
        discussion: """
            The review is an UPDATE of a pod without the sidecar, which the webhook allows untouched: nothing is \
            injected or created. Exit 0 when the webhook answered over TLS with an AdmissionReview \
            allowing the request with the same uid; 1 otherwise, saying what was wrong.
            """)

    @Option(help: "The webhook's URL, such as https://mr-token-sidecar-webhook.mr-token-sidecar.svc:443/mutate.")
    var url: String

    @Option(help: "The PEM CA bundle the webhook's certificate chains to (the chart's Secret's ca.crt).")
    var caFile: String?

    @Option(help: "How long to wait for the answer (such as 10s).")
    var timeout = "10s"

    func validate() throws {
        guard let parsed = URL(string: url), parsed.scheme == "https", parsed.host != nil else {
            throw ValidationError("--url must be an https:// URL")
        }
        guard (try? ConfigDuration.parse(timeout)) != nil else {
            throw ValidationError("--timeout \(timeout) is not a duration such as 10s")
        }
    }

    func run() async throws {
        let uid = UUID().uuidString.lowercased()
        let pod: JSONValue = [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "mr-token-sidecar-webhook-check"],
            "spec": ["containers": [["name": "check", "image": "check"]]],
        ]
        let review: JSONValue = [
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": [
                "uid": .string(uid), "kind": ["group": "", "version": "v1", "kind": "Pod"],
                "resource": ["group": "", "version": "v1", "resource": "pods"], "namespace": "default",
                "operation": "UPDATE", "object": pod, "oldObject": pod,
            ],
        ]
        var options = HTTPPipelineOptions(
            retry: RetryOptions(maxRetries: 2), perTryTimeout: (try? ConfigDuration.parse(timeout)) ?? .seconds(10),
            additionalTrustedCAFile: caFile, applicationId: "\(ProductInfo.name)/\(ProductInfo.version)")
        options.proxy = ProxyConfiguration(url: "")  // the Service is in the cluster
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        let started = ContinuousClock.now
        let response: PipelineResponse
        do {
            let pipeline = try HTTPPipeline(options: options, component: "webhook-check")
            response = try await pipeline.send(
                PipelineRequest(
                    method: .POST, url: URL(string: url)!, headers: headers, body: review.encoded(),
                    operation: "webhook.check"),
                logger: Logger(label: "webhook-check", factory: { _ in SwiftLogNoOpLogHandler() }))
        } catch {
            StandardStreams.error("webhook-check: \(error.message)\n")
            throw ExitCode(1)
        }
        let elapsed = Int((ContinuousClock.now - started).milliseconds)
        let answer = JSON.decode(JSONValue.self, from: response.body)
        guard response.status == 200, answer?["kind"]?.string == "AdmissionReview",
            answer?["response"]?["uid"]?.string == uid, answer?["response"]?["allowed"] == .bool(true)
        else {
            StandardStreams.error(
                "webhook-check: \(url) answered \(response.status) in \(elapsed) ms, not an AdmissionReview allowing the request with uid \(uid): \(LogText.bounded(String(decoding: response.body, as: UTF8.self), limit: 200))\n"
            )
            throw ExitCode(1)
        }
        StandardStreams.output("webhook-check: \(url) answered an AdmissionReview in \(elapsed) ms\n")
    }
}
