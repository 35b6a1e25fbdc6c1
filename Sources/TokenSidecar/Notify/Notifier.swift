import AzureCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOHTTP1

/// Tells the application that a new token is on disk: a signal to the pid in a pid file (read
/// each time, since the app may restart), and/or an HTTP POST of `{"account", "expiresOn"}`,
/// never the token. Failures are logged and counted, never fatal.
struct Notifier: Sendable {
    let pipeline: HTTPPipeline
    let metrics: SidecarMetrics

    init(metrics: SidecarMetrics, pipelineOptions: HTTPPipelineOptions) throws {
        var options = pipelineOptions
        options.retry = RetryOptions(maxRetries: 1, initialDelay: .milliseconds(200), maxDelay: .seconds(1))
        options.perTryTimeout = .seconds(5)
        options.maxResponseBodyBytes = 64 * 1024
        self.pipeline = try HTTPPipeline(options: options, component: "sidecar-notify")
        self.metrics = metrics
    }

    func notify(account: AccountConfiguration, expiresOn: Date, logger: Logger) async {
        guard let notify = account.notify else { return }
        if let signal = notify.signal {
            record(sendSignal(signal), what: "signal \(signal.name.rawValue)", logger: logger)
        }
        if let url = notify.httpPost {
            record(await post(url, account: account.name.value, expiresOn: expiresOn, logger: logger), what: "POST", logger: logger)
        }
    }

    private func record(_ problem: String?, what: String, logger: Logger) {
        if let problem {
            metrics.notification(success: false)
            logger.warning("could not notify the application", metadata: [SidecarLogKeys.error: "\(what): \(problem)"])
        } else {
            metrics.notification(success: true)
            logger.debug("notified the application", metadata: [SidecarLogKeys.reason: "\(what)"])
        }
    }

    /// `nil` when sent, else why not.
    func sendSignal(_ signal: NotifyConfiguration.Signal) -> String? {
        guard let data = try? Data(contentsOf: URL(filePath: signal.pidFile)) else {
            return "cannot read the pid file \(signal.pidFile)"
        }
        guard let pid = Int32(String(decoding: data.prefix(32), as: UTF8.self).trimmed), pid > 1 else {
            return "the pid file \(signal.pidFile) does not hold a process id"
        }
        guard kill(pid, signal.name.number) == 0 else {
            return "kill(\(pid), \(signal.name.rawValue)) failed: \(String(cString: strerror(errno)))"
        }
        return nil
    }

    func post(_ url: String, account: String, expiresOn: Date, logger: Logger) async -> String? {
        guard let target = URL(string: url) else { return "\(url) is not a URL" }
        struct Body: Encodable {
            var account: String
            var expiresOn: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(Body(account: account, expiresOn: TokenFileFormat.rfc3339(expiresOn)))) ?? Data()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        do {
            let response = try await pipeline.send(
                PipelineRequest(
                    method: .POST, url: target, headers: headers, body: Array(body), transport: .plainHTTPAllowed,
                    operation: "sidecar.notify"),
                logger: logger)
            return (200..<300).contains(response.status) ? nil : "the endpoint answered \(response.status)"
        } catch let error as AzureCoreError {
            return error.message
        } catch {
            return "\(error)"
        }
    }
}
