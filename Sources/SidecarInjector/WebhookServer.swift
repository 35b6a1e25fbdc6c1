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
    let limits: ServerLimits
    let lanes: AdmissionLanes
    let readiness: ProbeFlag
    let logger: Logger
    /// What the certificate checks and the waits for a turn sleep on.
    let clock: any Clock<Duration>
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        var first: CertificateStore.Loaded?
        while first == nil {
            first = checkCertificate()
            if first == nil {
                guard (try? await cancelWhenGracefulShutdown({ try await clock.sleep(for: interval) })) != nil else {
                    return
                }
            }
        }
        guard let first else { return }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while (try? await cancelWhenGracefulShutdown({ try await clock.sleep(for: interval) })) != nil {
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
                metadata: [
                    LogKeys.path: "\(store.certificateFile)",
                    LogKeys.notAfter: "\(loaded.notAfter.formatted(.iso8601))",
                ])
            return loaded
        case .failed(let error):
            metrics.reload(success: false)
            logger.error(
                store.current == nil
                    ? "no serving certificate yet; /readyz fails until one loads"
                    : "the new certificate files cannot be used; the loaded certificate stays",
                metadata: [LogKeys.errorMessage: "\(error.message)"])
            return nil
        }
    }

    private func serve(_ tls: TLSConfiguration) async throws {
        let router = Router(context: PeerRequestContext.self)
        router.post("/mutate") { request, _ -> Response in
            let started = ContinuousClock.now
            let answer = await lanes.answer(request, handler: handler, clock: clock)
            metrics.request(answer.result, duration: ContinuousClock.now - started)
            logger.log(
                level: answer.result.isProblem ? .warning : .info, "admission review",
                metadata: [
                    LogKeys.result: "\(answer.result.rawValue)",
                    LogKeys.reason: "\(LogText.bounded(answer.reason, limit: 400))",
                    LogKeys.pod: "\(LogText.bounded(answer.subject))",
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
            router, tls: tls, limits: limits, host: host, port: port, serverName: "mr-token-sidecar-webhook",
            what: "webhook", logger: logger, clock: clock
        ) { [readiness, onListening] bound in
            readiness.set(true)
            onListening(bound)
        }
    }
}

/// Who may read and parse a body now. AdmissionReviews of ordinary pods (up to 128 KiB, by
/// `Content-Length`; a few KB in practice) are read first, holding nothing (the connection's
/// body deadline and minimum rate cut off one that stalls), then wait their turn in the small
/// lane to be parsed and answered. A larger one is read and parsed only when no other large one
/// is: otherwise it is answered 503 at once, its body drained unread, so that a flood of large
/// bodies holds at most one in memory and delays no small one (a real pod that large is rare, and
/// the API server's `failurePolicy` decides).
struct AdmissionLanes: Sendable {
    /// The largest body of the small lane.
    static let smallBodyBytes = 128 << 10
    let small = ConcurrencyLimiter(limit: 8)
    let large = ConcurrencyLimiter(limit: 1)
    /// The longest a small review waits for its turn.
    let wait: Duration

    func answer(
        _ request: Request, handler: AdmissionHandler, clock: any Clock<Duration>
    ) async -> AdmissionHandler.Answer {
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > AdmissionHandler.maxBodyBytes {
            return AdmissionHandler.invalid("the body is larger than \(AdmissionHandler.maxBodyBytes >> 20) MiB")
        }
        do {
            if let declared, declared <= Self.smallBodyBytes {
                let body: ByteBuffer
                do {
                    body = try await request.body.collect(upTo: Self.smallBodyBytes)
                } catch {
                    return Self.cutShort(Self.smallBodyBytes)
                }
                let answer = try await small.withPermit(waitingAtMost: wait, on: clock) {
                    Self.answer(body, handler: handler)
                }
                return answer ?? AdmissionHandler.busy()
            }
            let answer = await large.withPermitIfFree {
                await Self.read(request, upTo: AdmissionHandler.maxBodyBytes, handler: handler)
            }
            return answer ?? AdmissionHandler.busy()
        } catch {
            return AdmissionHandler.busy()
        }
    }

    private static func read(
        _ request: Request, upTo limit: Int, handler: AdmissionHandler
    ) async
        -> AdmissionHandler.Answer
    {
        do {
            return answer(try await request.body.collect(upTo: limit), handler: handler)
        } catch {
            return cutShort(limit)
        }
    }

    private static func answer(_ body: ByteBuffer, handler: AdmissionHandler) -> AdmissionHandler.Answer {
        body.withUnsafeReadableBytes { raw in
            handler.answer(
                UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
        }
    }

    private static func cutShort(_ limit: Int) -> AdmissionHandler.Answer {
        AdmissionHandler.invalid(
            "the body is larger than \(limit >> 10) KiB (its Content-Length said less) or was cut short")
    }
}
