import AzureCore
import CoreMetrics
package import DaemonSupport

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The webhook's metrics: `mr_webhook_requests_total{result}`, `mr_webhook_request_duration_seconds`,
/// `mr_webhook_certificate_reloads_total{result}` and `mr_webhook_certificate_expiry_timestamp_seconds`.
package final class WebhookMetrics: Sendable {
    /// Every metric's `# HELP` text, and the buckets of the review duration (the API server waits
    /// at most 30 s).
    package static let descriptions: [String: MetricDescription] = [
        "mr_webhook_requests_total": .init(
            "AdmissionReviews answered by result: \(AdmissionHandler.Result.allCases.map(\.rawValue).joined(separator: ", "))."
        ),
        "mr_webhook_request_duration_seconds": .init(
            "Time to answer an AdmissionReview, reading the body included.",
            buckets: [
                .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
            ]),
        "mr_webhook_certificate_reloads_total": .init("Loads of the serving certificate by result (success, failure)."),
        "mr_webhook_certificate_expiry_timestamp_seconds": .init(
            "Expiry (notAfter) of the serving certificate in use, in unix seconds."),
    ]

    private let requests: [AdmissionHandler.Result: Counter]
    private let duration: CoreMetrics.Timer
    private let reloads: [String: Counter]
    private let expiry: Gauge

    init(factory: any MetricsFactory) {
        requests = Dictionary(
            uniqueKeysWithValues: AdmissionHandler.Result.allCases.map {
                (
                    $0,
                    Counter(label: "mr_webhook_requests_total", dimensions: [("result", $0.rawValue)], factory: factory)
                )
            })
        duration = CoreMetrics.Timer(label: "mr_webhook_request_duration_seconds", dimensions: [], factory: factory)
        reloads = Dictionary(
            uniqueKeysWithValues: ["success", "failure"].map {
                (
                    $0,
                    Counter(
                        label: "mr_webhook_certificate_reloads_total", dimensions: [("result", $0)], factory: factory)
                )
            })
        expiry = Gauge(label: "mr_webhook_certificate_expiry_timestamp_seconds", dimensions: [], factory: factory)
    }

    func request(_ result: AdmissionHandler.Result, duration: Duration) {
        requests[result]?.increment()
        self.duration.recordNanoseconds(duration.nanoseconds)
    }

    func reload(success: Bool, notAfter: Date? = nil) {
        reloads[success ? "success" : "failure"]?.increment()
        if let notAfter { expiry.record(notAfter.timeIntervalSince1970) }
    }
}
