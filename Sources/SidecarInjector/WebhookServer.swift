import AzureCore
import DaemonSupport
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `/mutate` over HTTPS, started once the first certificate loads; the certificate files are
/// checked every `interval` and a new certificate is used from the next handshake.
struct WebhookServer: Service {
    let host: String
    let port: Int
    let store: CertificateStore
    let handler: AdmissionHandler
    let metrics: WebhookMetrics
    let interval: Duration
    let readiness: ProbeFlag
    let logger: Logger
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        var first: CertificateStore.Loaded?
        while first == nil {
            first = checkCertificate()
            if first == nil {
                guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil else {
                    return
                }
            }
        }
        guard let first else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil {
                    _ = checkCertificate()
                }
            }
            group.addTask { try await serve(store.tlsConfiguration(first)) }
            // Both end on graceful shutdown (the server after its requests in flight); a server
            // that fails stops the checker too.
            do {
                try await group.waitForAll()
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    /// Loads changed files; returns the certificate when a new one loaded.
    private func checkCertificate() -> CertificateStore.Loaded? {
        switch store.check() {
        case .unchanged:
            return nil
        case .loaded(let loaded):
            metrics.reload(success: true, notAfter: loaded.notAfter)
            logger.info(
                "serving certificate loaded",
                metadata: ["file": "\(store.certificateFile)", "notAfter": "\(loaded.notAfter)"])
            return loaded
        case .failed(let error):
            metrics.reload(success: false)
            logger.error(
                store.current == nil
                    ? "no serving certificate yet; /readyz fails until one loads"
                    : "the new certificate files cannot be used; the loaded certificate stays",
                metadata: [WebhookLogKeys.error: "\(error.message)"])
            return nil
        }
    }

    private func serve(_ tls: TLSConfiguration) async throws {
        let router = Router()
        router.post("/mutate") { request, _ -> Response in
            let started = ContinuousClock.now
            let answer: AdmissionHandler.Answer
            do {
                let body = try await request.body.collect(upTo: AdmissionHandler.maxBodyBytes)
                answer = handler.answer(Array(buffer: body))
            } catch {
                answer = AdmissionHandler.invalid("the body is larger than 3 MiB or was cut short")
            }
            metrics.request(answer.result, duration: ContinuousClock.now - started)
            logger.log(
                level: answer.result == "invalid" || answer.result == "denied" ? .warning : .info, "admission review",
                metadata: [
                    "result": "\(answer.result)", WebhookLogKeys.reason: "\(answer.reason)", "pod": "\(answer.subject)",
                ])
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
        }
        router.get("/healthz") { _, _ in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        defer { readiness.set(false) }
        try await HTTPServing.serve(
            router, server: try .tls(.http1(), tlsConfiguration: tls), host: host, port: port,
            serverName: "mr-token-sidecar-webhook", what: "webhook", logger: logger
        ) { [readiness, onListening] bound in
            readiness.set(true)
            onListening(bound)
        }
    }
}
