import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import STSEmulator
import TestSupport
import Testing

@testable import AzureCore

@Suite("Proxies: the environment's variables, NO_PROXY, and a real proxy process")
struct ProxyTests {
    @Test(
        "NO_PROXY: *, names with their subdomains, leading dots for subdomains only, IPs, CIDRs, ports",
        arguments: [
            ("example.com", "example.com", 443, true), ("example.com", "a.example.com", 443, true),
            ("example.com", "notexample.com", 443, false), (".example.com", "example.com", 443, false),
            (".example.com", "a.b.example.com", 443, true), ("10.0.0.0/8", "10.2.3.4", 443, true),
            ("10.0.0.0/8", "11.2.3.4", 443, false), ("10.0.0.1", "10.0.0.1", 443, true),
            ("fd00::/8", "[fd12::1]", 443, true), ("::1", "[::1]", 443, true),
            ("sts.example.com:8443", "sts.example.com", 443, false),
            ("sts.example.com:443", "sts.example.com", 443, true), ("*", "anything.example", 80, true),
            ("Example.COM", "EXAMPLE.com.", 443, true), ("", "example.com", 443, false),
        ])
    func bypass(entry: String, host: String, port: Int, bypassed: Bool) {
        #expect(ProxyBypass.parse("other.example, " + entry).matches(host: host, port: port) == bypassed)
    }

    @Test("the environment: HTTPS_PROXY for https, HTTP_PROXY for http, upper case first; link-local always direct")
    func environment() throws {
        let settings = try ProxySettings.resolve(
            option: nil,
            environment: [
                "HTTPS_PROXY": "http://proxy.corp:3128", "https_proxy": "http://ignored:1", "http_proxy": "proxy2:8080",
                "no_proxy": ".svc.cluster.local,10.0.0.0/8",
            ])
        #expect(
            settings.server(for: URL(string: "https://sts.mixedreality.azure.com/x")!)?.display
                == "http://proxy.corp:3128")
        #expect(settings.server(for: URL(string: "http://example.com/x")!)?.display == "http://proxy2:8080")
        #expect(settings.server(for: URL(string: "https://sts.mr.svc.cluster.local/x")!) == nil)
        #expect(settings.server(for: URL(string: "http://169.254.169.254/metadata/identity")!) == nil, "IMDS")
        #expect(settings.server(for: URL(string: "https://10.1.2.3/")!) == nil)
        // An explicit option replaces the environment; an empty URL means no proxy at all.
        let none = try ProxySettings.resolve(
            option: ProxyConfiguration(url: ""), environment: ["HTTPS_PROXY": "http://proxy.corp:3128"])
        #expect(none.server(for: URL(string: "https://sts.mixedreality.azure.com/")!) == nil)
    }

    @Test(
        "proxy URLs: credentials kept out of every text, default ports, socks5; unusable ones named by their source",
        arguments: [
            ("http://user:s3cr%40t@proxy.corp:3128", "http://proxy.corp:3128", nil) as (String, String?, String?),
            ("proxy.corp:3128", "http://proxy.corp:3128", nil), ("http://proxy.corp", "http://proxy.corp:80", nil),
            ("socks5://proxy.corp", "socks5://proxy.corp:1080", nil),
            ("https://user:s3cr%40t@proxy.corp", nil, "the scheme https is not supported"),
            ("http://proxy.corp:3128/path", nil, "no path"), ("http://", nil, "give http://"),
        ])
    func urls(text: String, display: String?, problem: String?) {
        do {
            let server = try ProxySettings.parse(text, source: "HTTPS_PROXY")
            #expect(server.display == display)
            expectNoSecret(["s3cr"], in: server.display, "the proxy's display form")
            if text.contains("user:") {
                #expect(server.configuration.authorization == .basic(username: "user", password: "s3cr@t"))
            }
        } catch {
            #expect(problem != nil && error.message.contains(problem!), "\(error.message)")
            #expect(error.message.hasPrefix("HTTPS_PROXY is not a usable proxy URL"))
            expectNoSecret(["s3cr"], in: error.message, "the error (the password never appears)")
        }
    }

    /// An Azure host name the emulator answers for behind a proxy that routes it there.
    static let azureName = "sts.westeurope.mixedreality.azure.com"

    /// Runs `body` with an emulator answering for ``azureName`` too.
    func withAzureEmulator(_ body: (EmulatorFixture) async throws -> Void) async throws {
        try await withEmulator(configure: { $0.serverNames = [Self.azureName] }) { try await body($0) }
    }

    @Test("requests go through a real proxy with CONNECT, with its credentials; NO_PROXY goes around it")
    func throughProxy() async throws {
        try await withAzureEmulator { fixture in
            let proxy = try await ProxyProcess.start(
                credentials: "mr:pr0xy-pass", routes: [Self.azureName: fixture.baseURL.port ?? 0])
            defer { Task { await proxy.stop() } }
            let capture = LogCapture()
            let environment = ["HTTPS_PROXY": proxy.url(credentials: "mr:pr0xy-pass"), "AZURE_LOG_LEVEL": "debug"]
            let response = try await fixture.pipeline(environment: environment).send(
                fixture.stsRequest(host: Self.azureName), logger: capture.logger())
            #expect(response.status == 200)
            #expect(proxy.requests == ["CONNECT \(Self.azureName):443 auth=ok"])
            #expect(capture.text.contains("http://127.0.0.1:\(proxy.port)"), "the proxy is logged")
            expectNoSecret(["pr0xy-pass"], in: capture.text, "the logs (the proxy's password)")

            // NO_PROXY: the name is resolved here, where it is not Azure's (no network): the request
            // fails without reaching the proxy.
            await #expect(throws: AzureCoreError.self) {
                try await fixture.pipeline(
                    environment: environment.merging(["NO_PROXY": ".mixedreality.azure.com"]) { $1 }
                ) {
                    $0.retry = RetryOptions(maxRetries: 0)
                }.send(fixture.stsRequest(host: Self.azureName), logger: capture.logger())
            }
            #expect(proxy.requests.count == 1, "NO_PROXY bypassed the proxy")
        }
    }

    @Test(
        "loopback and link-local addresses never go through a proxy, whatever NO_PROXY says; nor does a plain-HTTP request that carries a credential header"
    )
    func neverProxied() async throws {
        let settings = try ProxySettings.resolve(
            option: nil, environment: ["HTTPS_PROXY": "http://proxy.corp:3128", "HTTP_PROXY": "http://proxy.corp:3128"])
        for url in [
            "https://127.0.0.1:8443/", "http://127.0.0.2/", "https://[::1]/", "http://localhost:8080/",
            "https://sts.localhost/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/metadata",
            "http://[fe80::1]/",
        ] {
            #expect(settings.server(for: URL(string: url)!) == nil, "\(url)")
        }
        #expect(settings.server(for: URL(string: "https://10.0.0.1/")!) != nil)
        #expect(settings.server(for: URL(string: "https://localhost.example/")!) != nil)

        let proxy = try await ProxyProcess.start()
        defer { Task { await proxy.stop() } }
        let environment = ["HTTPS_PROXY": proxy.url(), "HTTP_PROXY": proxy.url()]
        let pipeline = try HTTPPipeline(
            options: {
                var options = HTTPPipelineOptions()
                options.environment = environment
                return options
            }(), component: "test")
        // A managed identity endpoint outside the pod, in plain HTTP (App Service's IDENTITY_ENDPOINT):
        // its secret header would be read by the proxy.
        var identity = HTTPHeaders()
        identity.add(name: "X-IDENTITY-HEADER", value: "identity-secret")
        identity.add(name: "Metadata", value: "true")
        let url = URL(string: "http://10.0.0.5:8081/msi/token?resource=x")!
        #expect(
            pipeline.proxy(
                for: PipelineRequest(
                    method: .GET, url: url, headers: identity, transport: .plainHTTPAllowed, operation: "t")) == nil)
        var plain = HTTPHeaders()
        plain.add(name: "Metadata", value: "true")
        #expect(
            pipeline.proxy(
                for: PipelineRequest(
                    method: .GET, url: url, headers: plain, transport: .plainHTTPAllowed, operation: "t"))?
                .display == proxy.url())

        // A real request to the emulator on loopback goes direct even though both variables are set.
        try await withEmulator { fixture in
            let response = try await fixture.pipeline(environment: environment).send(
                fixture.stsRequest(), logger: LogCapture().logger())
            #expect(response.status == 200)
        }
        #expect(proxy.requests.isEmpty, "\(proxy.requests)")
    }

    @Test(
        "the config file's trust and proxy (a scoped transport) apply to the hosts the operator allowed, never to another: a request to Azure's host neither trusts the file's CA nor goes through the file's proxy"
    )
    func scopedTransport() async throws {
        try await withAzureEmulator { fixture in
            let proxy = try await ProxyProcess.start(routes: [Self.azureName: fixture.baseURL.port ?? 0])
            defer { Task { await proxy.stop() } }
            func pipeline(_ hosts: Set<String>) throws -> HTTPPipeline {
                try fixture.pipeline {
                    $0.additionalTrustedCAFile = nil
                    $0.retry = RetryOptions(maxRetries: 0)
                    $0.scopedTransport = ScopedTransport(
                        hosts: hosts, additionalTrustedCAFile: fixture.caFile, trustSystemRoots: true,
                        proxy: ProxyConfiguration(url: proxy.url()))
                }
            }
            // Scoped to another host: the Azure name is reached directly (it does not resolve here).
            let error = await #expect(throws: AzureCoreError.self) {
                try await pipeline(["127.0.0.1"]).send(
                    fixture.stsRequest(host: Self.azureName), logger: LogCapture().logger())
            }
            #expect(error?.message.contains("through the proxy") == false, "\(error?.message ?? "")")
            #expect(proxy.requests.isEmpty)
            #expect(fixture.emulator.requests.count == 0, "the key did not reach the file's CA holder")
            // Scoped to it (the operator allowed it): the file's proxy and CA carry it.
            let response = try await pipeline([Self.azureName]).send(
                fixture.stsRequest(host: Self.azureName), logger: LogCapture().logger())
            #expect(response.status == 200)
            #expect(proxy.requests == ["CONNECT \(Self.azureName):443 auth=none"])
        }
    }

    @Test("a proxy that refuses, wants credentials or is gone is a transport failure naming it, retried")
    func failingProxy() async throws {
        try await withAzureEmulator { fixture in
            let routes = [Self.azureName: fixture.baseURL.port ?? 0]
            let refusing = try await ProxyProcess.start(mode: .refuse, routes: routes)
            let demanding = try await ProxyProcess.start(credentials: "mr:right", routes: routes)
            let gone = try await ProxyProcess.start()
            await gone.stop()
            defer {
                Task {
                    await refusing.stop()
                    await demanding.stop()
                }
            }
            for (url, expected) in [
                (refusing.url(), "its answer to CONNECT was not 200"),
                (demanding.url(credentials: "mr:wrong"), "it asks for credentials (407)"),
                (gone.url(), "the connection to"),
            ] {
                let sleeps = RecordedSleeps()
                let error = await #expect(throws: AzureCoreError.self) {
                    try await fixture.pipeline(sleeps: sleeps, environment: ["HTTPS_PROXY": url]).send(
                        fixture.stsRequest(host: Self.azureName), logger: LogCapture().logger())
                }
                #expect(error?.code == .transport, "\(url)")
                #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
                #expect(error?.message.contains("through the proxy http://127.0.0.1:") == true)
                #expect(error?.message.contains("wrong") == false)
                #expect(sleeps.all.count == 3, "retried like any transport failure")
            }
            #expect(fixture.emulator.requests.count == 0, "nothing reached the STS")
        }
    }
}
