import AzureCore
package import CoreMetrics
package import Prometheus
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A metric's full name and `# HELP` text, as swift-prometheus takes them.
private func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}

/// What a metric is, for its `# HELP` line, and the buckets of a histogram.
package struct MetricDescription: Sendable {
    package var help: String
    package var buckets: [Duration]?

    package init(_ help: String, buckets: [Duration]? = nil) {
        self.help = help
        self.buckets = buckets
    }
}

/// Series a daemon keeps as plain values and renders itself at each scrape: many series (one
/// set per account) without a registry object per series.
package protocol MetricsCollector: Sendable {
    /// Appends whole families (`# HELP`, `# TYPE`, samples); no family the registry also has.
    func collect(into text: inout PrometheusText)
}

/// The Prometheus text exposition format (0.0.4), escaped as swift-prometheus escapes it.
package struct PrometheusText {
    package private(set) var bytes: [UInt8]

    package init(_ bytes: [UInt8] = []) { self.bytes = bytes }

    /// `# HELP` (backslashes and line feeds escaped) and `# TYPE` lines.
    package mutating func family(_ name: String, type: String, help: String) {
        bytes.append(contentsOf: "# HELP \(name) ".utf8)
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
            default: bytes.append(byte)
            }
        }
        bytes.append(contentsOf: "\n# TYPE \(name) \(type)\n".utf8)
    }

    /// One sample of a gauge.
    package mutating func sample(_ name: String, labels: [(String, String)], _ value: Double) {
        series(name, labels)
        bytes.append(contentsOf: "\(value)\n".utf8)
    }

    /// One sample of a counter.
    package mutating func sample(_ name: String, labels: [(String, String)], count: Int) {
        series(name, labels)
        bytes.append(contentsOf: "\(count)\n".utf8)
    }

    /// A histogram's `_bucket` samples (`bounds` as they are to be printed, then `+Inf`), `_sum` and `_count`.
    package mutating func histogram(
        _ name: String, labels: [(String, String)], bounds: [String], cumulativeCounts: [Int], sum: Double, count: Int
    ) {
        for (bound, bucketCount) in zip(bounds, cumulativeCounts) {
            series(name + "_bucket", labels + [("le", bound)])
            bytes.append(contentsOf: "\(bucketCount)\n".utf8)
        }
        series(name + "_bucket", labels + [("le", "+Inf")])
        bytes.append(contentsOf: "\(count)\n".utf8)
        sample(name + "_sum", labels: labels, sum)
        sample(name + "_count", labels: labels, count: count)
    }

    /// `name{label="value",...} ` with `\\`, `"` and line feeds escaped in the values.
    private mutating func series(_ name: String, _ labels: [(String, String)]) {
        bytes.append(contentsOf: name.utf8)
        if !labels.isEmpty {
            bytes.append(UInt8(ascii: "{"))
            for (index, (label, value)) in labels.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                bytes.append(contentsOf: label.utf8)
                bytes.append(contentsOf: #"=""#.utf8)
                for byte in value.utf8 {
                    switch byte {
                    case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
                    case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
                    case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
                    default: bytes.append(byte)
                    }
                }
                bytes.append(UInt8(ascii: "\""))
            }
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: " "))
    }
}

/// A daemon's Prometheus registry: the swift-metrics factory its code records through (every
/// metric with its `# HELP` text and its histogram buckets), the collectors that render their own
/// series, `mr_token_sidecar_build_info`, and the process's own `process_*` series as Prometheus
/// clients name them, read from `/proc` at each scrape.
package final class MetricsRegistry: Sendable {
    package let registry: PrometheusCollectorRegistry
    package let factory: any MetricsFactory
    private let process: ProcessMetrics
    private let collectors: [any MetricsCollector]

    /// - Parameters:
    ///   - component: `sidecar` or `webhook`, the `component` label of the build info.
    ///   - descriptions: The metrics recorded through ``factory``, by name.
    ///   - collectors: Series rendered at each scrape after the registry's.
    package init(
        component: String, descriptions: [String: MetricDescription] = [:], collectors: [any MetricsCollector] = []
    ) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.collectors = collectors
        factory = DescribedMetricsFactory(registry: registry, descriptions: descriptions)
        process = ProcessMetrics(registry: registry)
        registry.makeGauge(
            descriptor: describe("mr_token_sidecar_build_info", "Always 1; the labels say which build runs."),
            labels: [("version", ReleaseVersion.current), ("component", component), ("arch", Self.architecture)]
        ).set(1.0)
    }

    /// The Prometheus text, with the process's series read now.
    package func emit() -> [UInt8] {
        process.update()
        var text = PrometheusText(registry.emitToBuffer())
        for collector in collectors { collector.collect(into: &text) }
        return text.bytes
    }

    static let architecture: String = {
        #if arch(x86_64)
        "amd64"
        #elseif arch(arm64)
        "arm64"
        #else
        "other"
        #endif
    }()
}

/// `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_cpu_seconds_total`,
/// `process_start_time_seconds`, `process_open_fds` and `process_max_fds`, from `/proc/self`.
private final class ProcessMetrics: Sendable {
    let resident: Prometheus.Gauge
    let virtual: Prometheus.Gauge
    let cpu: Prometheus.Counter
    let start: Prometheus.Gauge
    let openFiles: Prometheus.Gauge
    let maxFiles: Prometheus.Gauge
    /// CPU seconds already counted (the counter only goes up by the difference).
    let counted = Mutex<Double>(0)

    init(registry: PrometheusCollectorRegistry) {
        resident = registry.makeGauge(
            descriptor: describe("process_resident_memory_bytes", "Resident memory size in bytes."))
        virtual = registry.makeGauge(
            descriptor: describe("process_virtual_memory_bytes", "Virtual memory size in bytes."))
        cpu = registry.makeCounter(
            descriptor: describe("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."))
        start = registry.makeGauge(
            descriptor: describe("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
        )
        openFiles = registry.makeGauge(descriptor: describe("process_open_fds", "Number of open file descriptors."))
        maxFiles = registry.makeGauge(
            descriptor: describe("process_max_fds", "Maximum number of open file descriptors."))
        if let started = Self.startTime() { start.set(started) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFiles.set(Double(limit.rlim_cur)) }
    }

    func update() {
        guard let stat = Self.selfStat() else { return }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        // Fields after the command name: state is field 3; utime 14, stime 15, vsize 23, rss 24.
        if stat.count > 21, let user = Double(stat[11]), let system = Double(stat[12]), ticks > 0 {
            let total = (user + system) / ticks
            let delta = counted.withLock { counted -> Double in
                let delta = max(0, total - counted)
                counted = max(counted, total)
                return delta
            }
            if delta > 0 { cpu.increment(by: delta) }
            if let size = Double(stat[20]) { virtual.set(size) }
            if let pages = Double(stat[21]) { resident.set(pages * page) }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFiles.set(Double(entries.count))
        }
    }

    /// The fields of `/proc/self/stat` after the command name (which may hold spaces), from the state on.
    static func selfStat() -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// The process's start, from its start time in ticks after boot and the boot time.
    static func startTime() -> Double? {
        guard let stat = selfStat(), stat.count > 19, let ticksAfterBoot = Double(stat[19]),
            let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(String(line.dropFirst("btime ".count)).trimmed)
        else { return nil }
        return boot + ticksAfterBoot / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// swift-metrics onto a Prometheus registry, as swift-prometheus's own factory, but with each
/// metric's `# HELP` text and buckets.
private struct DescribedMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let descriptions: [String: MetricDescription]

    static let defaultBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    func descriptor(_ label: String) -> MetricNameDescriptor {
        describe(label, descriptions[label]?.help ?? "")
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        let buckets = (descriptions[label]?.buckets ?? Self.defaultBuckets).map(\.seconds)
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(label), labels: dimensions,
            buckets: descriptions[label]?.buckets ?? Self.defaultBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        switch handler {
        case let gauge as Prometheus.Gauge: registry.unregisterGauge(gauge)
        case let histogram as Histogram<Double>: registry.unregisterValueHistogram(histogram)
        default: break
        }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? Histogram<Duration> { registry.unregisterDurationHistogram(histogram) }
    }
}
