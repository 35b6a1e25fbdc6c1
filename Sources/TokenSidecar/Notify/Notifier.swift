package import AzureCore
import DaemonFiles
package import Logging
import NIOHTTP1
package import SidecarConfig

#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells the application that a new token is on disk: a signal to the pid in a pid file (read
/// each time, since the app may restart), and/or an HTTP POST of `{"account", "expiresOn"}`,
/// never the token.
package struct Notifier: Sendable {
    let pipeline: HTTPPipeline
    let metrics: SidecarMetrics

    /// - Parameters:
    ///   - pipelineOptions: The sidecar's HTTP options (CA bundle, user agent); the notifier sets
    ///     its own short retries and timeout.
    ///   - metrics: Where each notification is counted.
    /// - Throws: ``SidecarError`` (`configuration`) when the CA bundle cannot be read.
    package init(pipelineOptions: HTTPPipelineOptions, metrics: SidecarMetrics) throws(SidecarError) {
        var options = pipelineOptions
        options.retry = RetryOptions(maxRetries: 1, initialDelay: .milliseconds(200), maxDelay: .seconds(1))
        options.perTryTimeout = .seconds(5)
        options.maxResponseBodyBytes = 64 * 1024
        do {
            self.pipeline = try HTTPPipeline(options: options, component: "sidecar-notify")
        } catch {
            throw SidecarError(
                .configuration, error.message, isRetriable: false, cause: error)
        }
        self.metrics = metrics
    }

    /// Sends every notification the account asks for, each counted in
    /// `mr_token_notifications_total`; each is tried even when another failed.
    /// - Throws: ``SidecarError`` (`notifyFailed`) naming each one that failed.
    package func notify(account: AccountConfiguration, expiresOn: Date, logger: Logger) async throws(SidecarError) {
        guard let notify = account.notify else { return }
        var problems: [String] = []
        func record(_ what: String, _ problem: String?) {
            metrics.notification(success: problem == nil)
            if let problem {
                problems.append("\(what): \(problem)")
            } else {
                logger.debug("notified the application", metadata: [LogKeys.reason: "\(what)"])
            }
        }
        if let signal = notify.signal { record("signal \(signal.name.rawValue)", send(signal)) }
        if let url = notify.httpPost {
            record("POST", await post(url, account: account.name.value, expiresOn: expiresOn, logger: logger))
        }
        guard problems.isEmpty else {
            throw SidecarError(.notifyFailed, "could not notify the application: " + problems.joined(separator: "; "))
        }
    }

    /// The largest pid file read: a pid and a newline.
    static let maximumPidFileBytes = 32

    /// `nil` when sent, else why not. The pid file is opened without following a symbolic link
    /// and without blocking, must be a regular file of at most 32 bytes, and must name neither
    /// pid 1 nor the sidecar itself: a FIFO, a device or a link to one cannot stall the refresh
    /// loop or turn the notification against another process.
    func send(_ signal: NotifyConfiguration.Signal) -> String? {
        let path = signal.pidFile
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            return errno == ELOOP
                ? "the pid file \(path) is a symbolic link: write the pid into a regular file"
                : "cannot open the pid file \(path): \(String(cString: strerror(errno)))"
        }
        defer { close(descriptor) }
        guard let size = PathProbe.regularFileSize(descriptor: descriptor) else {
            return "the pid file \(path) is not a regular file"
        }
        guard size <= Self.maximumPidFileBytes else {
            return "the pid file \(path) is larger than \(Self.maximumPidFileBytes) bytes: it must hold a process id"
        }
        var buffer = [UInt8](repeating: 0, count: Self.maximumPidFileBytes)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0, let pid = Int32(String(decoding: buffer.prefix(count), as: UTF8.self).trimmed), pid > 1 else {
            return "the pid file \(path) does not hold a process id"
        }
        guard pid != getpid() else {
            return "the pid file \(path) names the sidecar itself"
        }
        guard kill(pid, signal.name.number) == 0 else {
            return "kill(\(pid), \(signal.name.rawValue)) failed: \(String(cString: strerror(errno)))"
        }
        return nil
    }

    /// `nil` when the endpoint answered 2xx, else why not.
    func post(_ url: String, account: String, expiresOn: Date, logger: Logger) async -> String? {
        guard let target = URL(string: url) else { return "\(url) is not a URL" }
        struct Body: Encodable {
            var account: String
            var expiresOn: String
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        let body = JSON.encode(Body(account: account, expiresOn: TokenFileFormat.rfc3339(expiresOn)))
        do {
            let response = try await pipeline.send(
                PipelineRequest(
                    method: .POST, url: target, headers: headers, body: body, transport: .plainHTTPAllowed,
                    operation: "sidecar.notify"),
                logger: logger)
            return (200..<300).contains(response.status) ? nil : "the endpoint answered \(response.status)"
        } catch {
            return error.message
        }
    }
}
