import Foundation
import Logging
import NIOHTTP1
import STSEmulator
import Synchronization
import TestSupport
import Testing

@testable import AzureCore

/// Records the waits the pipeline asks for instead of sleeping.
final class RecordedSleeps: Sendable {
    let delays = Mutex<[Duration]>([])
    var sleep: @Sendable (Duration) async throws -> Void {
        { [self] delay in self.delays.withLock { $0.append(delay) } }
    }
    var all: [Duration] { delays.withLock { $0 } }
}

extension EmulatorFixture {
    /// The STS request, to the emulator's address or, with `host`, to that name on port 443 (a
    /// proxy routes it to the emulator).
    func stsRequest(key: String? = nil, host: String? = nil) -> PipelineRequest {
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "Authorization", value: "Bearer \(identities.accountId):\(key ?? identities.accountKey)")
        headers.add(name: "X-MRC-CV", value: String(repeating: "A", count: 22))
        return PipelineRequest(
            method: .GET,
            url: (host.map { URL(string: "https://\($0)")! } ?? baseURL).appending(
                path: "Accounts/\(identities.accountId)/token"
            )
            .appending(queryItems: [URLQueryItem(name: "api-version", value: "2019-02-28-preview")]),
            headers: headers, operation: "test")
    }

    func pipeline(
        sleeps: RecordedSleeps? = nil, environment: [String: String] = [:],
        configure: (inout HTTPPipelineOptions) -> Void = { _ in }
    ) throws -> HTTPPipeline {
        var options = pipelineOptions
        options.environment = environment
        if let sleeps { options.sleep = sleeps.sleep }
        configure(&options)
        return try HTTPPipeline(options: options, component: "test")
    }
}

@Suite("HTTP pipeline against the emulator")
struct HTTPPipelineTests {
    @Test(
        "retriable statuses are retried up to maxRetries with backoff; others are returned at once",
        arguments: [408, 429, 500, 502, 503, 504, 400, 401, 403, 404, 501])
    func statusRetries(status: Int) async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, count: 10, status: status))
            let sleeps = RecordedSleeps()
            let response = try await fixture.pipeline(sleeps: sleeps).send(
                fixture.stsRequest(), logger: LogCapture().logger())
            #expect(response.status == status)
            let retried = [408, 429, 500, 502, 503, 504].contains(status)
            #expect(response.tries == (retried ? 4 : 1))
            #expect(fixture.emulator.requests.count == (retried ? 4 : 1))
            #expect(sleeps.all.count == (retried ? 3 : 0))
            for (retry, delay) in sleeps.all.enumerated() {
                #expect(
                    delay <= RetryOptions.exponential(base: .milliseconds(20), attempt: retry, cap: .milliseconds(200)))
            }
        }
    }

    @Test("a server's Retry-After replaces the backoff")
    func retryAfterUsed() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, status: 503, retryAfter: "7"))
            let sleeps = RecordedSleeps()
            let response = try await fixture.pipeline(sleeps: sleeps).send(
                fixture.stsRequest(), logger: LogCapture().logger())
            #expect(response.status == 200)
            #expect(sleeps.all == [.seconds(7)])
        }
    }

    @Test("transport failures are retried; after the last try the error says what failed")
    func transportRetries() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, count: 4, dropConnection: true))
            let sleeps = RecordedSleeps()
            let error = await #expect(throws: AzureCoreError.self) {
                try await fixture.pipeline(sleeps: sleeps).send(fixture.stsRequest(), logger: LogCapture().logger())
            }
            #expect(error?.code == .transport)
            #expect(error?.isRetriable == true)
            #expect(sleeps.all.count == 3)
            #expect(fixture.emulator.requests.count == 4)
        }
    }

    @Test("a try that outlives the per-try timeout fails as a retriable timeout")
    func perTryTimeout() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, delayMs: 5000))
            let pipeline = try fixture.pipeline {
                $0.perTryTimeout = .milliseconds(300)
                $0.retry.maxRetries = 0
            }
            let error = await #expect(throws: AzureCoreError.self) {
                try await pipeline.send(fixture.stsRequest(), logger: LogCapture().logger())
            }
            #expect(error?.code == .timeout)
            #expect(error?.isRetriable == true)
        }
    }

    @Test("a body over the bound is refused, not read, and not retried")
    func boundedBody() async throws {
        try await withEmulator { fixture in
            fixture.emulator.inject(Fault(endpoint: .sts, status: 500, body: String(repeating: "x", count: 200_000)))
            let pipeline = try fixture.pipeline { $0.maxResponseBodyBytes = 64 * 1024 }
            let error = await #expect(throws: AzureCoreError.self) {
                try await pipeline.send(fixture.stsRequest(), logger: LogCapture().logger())
            }
            #expect(error?.code == .responseTooLarge)
            #expect(error?.isRetriable == false)
            #expect(fixture.emulator.requests.count == 1)
        }
    }

    @Test("plain HTTP: refused for credentials, allowed where the request says so (IMDS)")
    func plainHTTP() async throws {
        try await withEmulator(configure: { $0.plainHTTP = true }) { fixture in
            let pipeline = try fixture.pipeline()
            var request = fixture.stsRequest()
            let error = await #expect(throws: AzureCoreError.self) {
                try await pipeline.send(request, logger: LogCapture().logger())
            }
            #expect(error?.code == .insecureTransport)
            #expect(error?.message.contains("https://") == true)
            #expect(fixture.emulator.totalRequests == 0)
            request.transport = .plainHTTPAllowed
            #expect(try await pipeline.send(request, logger: LogCapture().logger()).status == 200)
        }
    }

    @Test("User-Agent names the application id, the component and the release")
    func userAgent() async throws {
        try await withEmulator { fixture in
            let pipeline = try fixture.pipeline { $0.applicationId = "my-app/2" }
            _ = try await pipeline.send(fixture.stsRequest(), logger: LogCapture().logger())
            #expect(
                fixture.emulator.requests.first?.header("User-Agent")
                    == "my-app/2 azsdk-swift-test/\(ReleaseVersion.current) (Swift; Linux)")
        }
    }

    @Test("AZURE_LOG_LEVEL=info turns on sanitized request and response lines at info")
    func azureLogLevel() async throws {
        try await withEmulator { fixture in
            let quiet = LogCapture()
            var quietLogger = quiet.logger()
            quietLogger.logLevel = .info
            _ = try await fixture.pipeline().send(fixture.stsRequest(), logger: quietLogger)
            #expect(!quiet.contains(level: .info, message: "Request"))

            let loud = LogCapture()
            var loudLogger = loud.logger()
            loudLogger.logLevel = .warning
            _ = try await fixture.pipeline(environment: ["AZURE_LOG_LEVEL": "info"]).send(
                fixture.stsRequest(), logger: loudLogger)
            #expect(loud.contains(level: .info, message: "Request"))
            #expect(loud.contains(level: .info, message: "Response"))
            #expect(loud.text.contains("Authorization: REDACTED"))
            #expect(loud.leaked(fixture.identities.secrets).isEmpty)
        }
    }
}
