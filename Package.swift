// swift-tools-version: 6.2
import Foundation
import PackageDescription

// Our own targets only: upcoming features that keep the public surface small and
// existentials explicit, warnings as errors (SE-0480). `MR_STRICT=1` (set by
// `scripts/test.sh` and CI) adds `-require-explicit-sendable`, an unsafe flag that
// would stop this package from being used as a dependency, hence opt-in.
var swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]
if Context.environment["MR_STRICT"] == "1" {
    swiftSettings.append(.unsafeFlags(["-Xfrontend", "-require-explicit-sendable"]))
}

// The release version lives in one place, the VERSION file; CVersion hands it to the code (the
// user agent, `--version`, `/status`), scripts/build-image.sh to the image and the chart check to
// Chart.yaml. SwiftPM reads this manifest again when it changes, not when VERSION does: after
// editing VERSION, touch Package.swift (CI and image builds start clean).
let version =
    (try? String(contentsOfFile: Context.packageDirectory + "/VERSION", encoding: .utf8))?
    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "0.0.0-unknown"

let package = Package(
    name: "mr-token-sidecar",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AzureCore", targets: ["AzureCore"]),
        .library(name: "AzureIdentity", targets: ["AzureIdentity"]),
        .library(name: "MixedRealityAuthentication", targets: ["MixedRealityAuthentication"]),
        // For applications in the pod: the sidecar's token file as a TokenCredential.
        .library(name: "MixedRealityTokenFile", targets: ["MixedRealityTokenFile"]),
        .library(name: "STSEmulator", targets: ["STSEmulator"]),
        .executable(name: "mr-token-sidecar", targets: ["mr-token-sidecar"]),
        .executable(name: "mr-token-sidecar-demo", targets: ["mr-token-sidecar-demo"]),
        .executable(name: "mr-sts-emulator", targets: ["mr-sts-emulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // No trait: without `FullFoundation` Hummingbird stays on FoundationEssentials, and without
        // `ConfigurationSupport` it does not bring swift-configuration, which nothing here reads.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    ],
    targets: [
        // MARK: Client libraries

        // The release version (VERSION) as a C string.
        .target(name: "CVersion", cSettings: [.define("MR_VERSION", to: "\"\(version)\"")]),
        .target(
            name: "AzureCore",
            dependencies: [
                "CVersion",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AzureIdentity",
            dependencies: [
                "AzureCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MixedRealityAuthentication",
            dependencies: [
                "AzureCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The sidecar's token file as a TokenCredential, for applications (no dependency on the sidecar).
        .target(
            name: "MixedRealityTokenFile",
            dependencies: [
                "AzureCore", "MixedRealityAuthentication",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Examples (built and run by the test command)

        // The SDKs' three ways to get a token: an account key, an Entra ID credential, a ready token.
        .executableTarget(
            name: "mr-example-get-token",
            dependencies: [
                "AzureCore", "AzureIdentity", "MixedRealityAuthentication",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/GetToken",
            swiftSettings: swiftSettings
        ),
        // A token vending service in the pod, for devices: reads the sidecar's file, authenticates
        // its callers with a bearer key, rate-limits their failures.
        .executableTarget(
            name: "mr-example-token-vending",
            dependencies: [
                "AzureCore", "MixedRealityTokenFile",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Examples/TokenVendingService",
            swiftSettings: swiftSettings
        ),

        // MARK: The daemons

        // What the daemons ask of paths beyond AzureCore's reads (file-system type, links, owners).
        .target(name: "DaemonFiles", swiftSettings: swiftSettings),
        // libyaml from Debian's libyaml-dev: the YAML parser of the config file (no Foundation).
        .systemLibrary(name: "CYaml", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // The config file: libyaml, our Codable decoder, the schema and its validation. Shared by
        // the sidecar and the injector.
        .target(
            name: "SidecarConfig",
            dependencies: ["AzureCore", "CYaml", "DaemonFiles"],
            swiftSettings: swiftSettings
        ),
        // The process-level choices of the executables, and only theirs: Swift concurrency on
        // NIO's event loops (the runtime's hooks, set from C), the clock they sleep on, glibc's
        // allocator tuned and the idle memory trim (docs/architecture.md, "The process runtime").
        .target(name: "CProcessRuntime"),
        .target(
            name: "ProcessRuntime",
            dependencies: [
                "AzureCore", "CProcessRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the sidecar's and the webhook's servers share: serving a router until graceful
        // shutdown, /metrics, probe flags, JSON answers, the log handler.
        .target(
            name: "DaemonSupport",
            dependencies: [
                "AzureCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The sidecar: per-account state machines and their driver, the atomic writer,
        // notifications, probes, status and metrics, reload.
        .target(
            name: "TokenSidecar",
            dependencies: [
                "AzureCore", "AzureIdentity", "MixedRealityAuthentication", "MixedRealityTokenFile", "SidecarConfig",
                "DaemonSupport", "DaemonFiles",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The mutating admission webhook: AdmissionReview in, a JSON patch out, over HTTPS; and the
        // same injection into manifests at build time (`inject`: SidecarConfig's YAML reader, libyaml's
        // emitter).
        .target(
            name: "SidecarInjector",
            dependencies: [
                "AzureCore", "SidecarConfig", "DaemonSupport", "CYaml",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        // The production executable: the CLI of the sidecar and the webhook, their service groups
        // and signals. It links no emulator.
        .executableTarget(
            name: "mr-token-sidecar",
            dependencies: [
                "AzureCore", "MixedRealityAuthentication", "SidecarConfig", "DaemonSupport", "TokenSidecar",
                "SidecarInjector", "ProcessRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The emulator and the demo

        .target(
            name: "STSEmulator",
            dependencies: [
                "AzureCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "mr-sts-emulator",
            dependencies: [
                "STSEmulator",
                "AzureCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The demo: the emulator and the sidecar side by side, in their own executable.
        .executableTarget(
            name: "mr-token-sidecar-demo",
            dependencies: [
                "AzureCore", "STSEmulator", "SidecarConfig", "DaemonSupport", "TokenSidecar",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The in-process micro-benchmarks (Benchmarks/run.sh builds and runs them in release).
        .executableTarget(
            name: "mr-micro-benchmarks",
            dependencies: ["AzureCore", "SidecarConfig", "TokenSidecar", "MixedRealityAuthentication"],
            path: "Benchmarks/Micro",
            swiftSettings: swiftSettings
        ),
        // The webhook's load generator (Benchmarks/run.sh): AdmissionReviews over kept-alive TLS
        // connections, at a fixed rate or as fast as they are answered.
        .executableTarget(
            name: "mr-webhook-load",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Benchmarks/WebhookLoad",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests

        // Fakes of the sidecar's ports for tests: a manual clock, an in-memory sink, a scripted
        // token source.
        .target(
            name: "TokenSidecarTesting",
            dependencies: [
                "AzureCore", "MixedRealityAuthentication", "TokenSidecar",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TokenSidecarTesting",
            swiftSettings: swiftSettings
        ),
        // Shared by the test targets: fixtures, log capture and secret scanning.
        .target(
            name: "TestSupport",
            dependencies: [
                "AzureCore", "STSEmulator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AzureCoreTests",
            dependencies: [
                "AzureCore", "STSEmulator", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AzureIdentityTests",
            dependencies: [
                "AzureIdentity", "AzureCore", "MixedRealityAuthentication", "STSEmulator", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MixedRealityAuthenticationTests",
            dependencies: [
                "MixedRealityAuthentication", "AzureCore", "STSEmulator", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DaemonSupportTests",
            dependencies: [
                "DaemonSupport", "AzureCore", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProcessRuntimeTests",
            dependencies: [
                "ProcessRuntime", "CProcessRuntime", "AzureCore", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SidecarConfigTests",
            dependencies: ["SidecarConfig", "AzureCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TokenSidecarTests",
            dependencies: [
                "TokenSidecar", "TokenSidecarTesting", "SidecarConfig", "DaemonSupport", "AzureCore", "AzureIdentity",
                "MixedRealityAuthentication", "MixedRealityTokenFile", "STSEmulator", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SidecarInjectorTests",
            dependencies: [
                "SidecarInjector", "SidecarConfig", "AzureCore", "STSEmulator", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "STSEmulatorTests",
            dependencies: [
                "STSEmulator", "AzureCore", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
