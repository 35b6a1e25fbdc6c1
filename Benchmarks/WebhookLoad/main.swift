// The webhook's load generator for Benchmarks/run.sh: sends one AdmissionReview body over
// kept-alive HTTPS connections, as the API server does, and prints one JSON line of results.
//
//   mr-webhook-load --url URL --ca FILE --body FILE --connections N --seconds S --rate R
//   mr-webhook-load --url URL --ca FILE --body FILE --connections N --seconds S --max
//
// With --rate, requests are sent open-loop at R a second (each is timed from the moment it was
// due, so a slow answer cannot hide the requests queued behind it); with --max, each connection
// sends its next request as soon as the previous one is answered. The generator runs on one event
// loop thread and reports its own CPU time, so the benchmark can tell whether it or the webhook
// was the limit.
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

func argument(_ name: String) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    _ = message.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    exit(2)
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

guard let url = argument("--url"), let ca = argument("--ca"), let bodyFile = argument("--body"),
    let seconds = argument("--seconds").flatMap(Double.init),
    let connections = argument("--connections").flatMap(Int.init)
else { fail("usage: mr-webhook-load --url URL --ca FILE --body FILE --connections N --seconds S (--rate R | --max)\n") }
let rate = argument("--rate").flatMap(Double.init)
let maximum = CommandLine.arguments.contains("--max")
guard rate != nil || maximum else { fail("give --rate R or --max\n") }
func readFile(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "r") else { fail("cannot read \(path)\n") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { return bytes }
        bytes += chunk[0..<count]
    }
}
let body = readFile(bodyFile)

var tls = TLSConfiguration.makeClientConfiguration()
tls.additionalTrustRoots = [.file(ca)]
var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
configuration.httpVersion = .http1Only
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)

/// One review; the seconds it took from `due`, or nil when it failed.
func review(due: ContinuousClock.Instant) async -> Double? {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    request.body = .bytes(ByteBuffer(bytes: body))
    do {
        let response = try await client.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 22)
        guard response.status == .ok else { return nil }
        let elapsed = (ContinuousClock.now - due).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    } catch {
        return nil
    }
}

// Warm up: open the connections and let both sides reach a steady state.
await withTaskGroup(of: Void.self) { warm in
    for _ in 0..<connections * 20 { warm.addTask { _ = await review(due: .now) } }
}

let cpuBefore = cpuSeconds()
let started = ContinuousClock.now
let latencies: [Double?] = await withTaskGroup(of: [Double?].self) { tasks in
    if let rate {
        let total = Int(rate * seconds)
        for index in 0..<total {
            let due = started + .seconds(Double(index) / rate)
            try? await Task.sleep(until: due)
            tasks.addTask { [await review(due: due)] }
        }
    } else {
        let end = started + .seconds(seconds)
        for _ in 0..<connections {
            tasks.addTask {
                var mine: [Double?] = []
                while ContinuousClock.now < end { mine.append(await review(due: .now)) }
                return mine
            }
        }
    }
    var all: [Double?] = []
    for await some in tasks { all += some }
    return all
}
let elapsed = (ContinuousClock.now - started).components
let wall = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
let cpu = cpuSeconds() - cpuBefore
try await client.shutdown().get()
try await group.shutdownGracefully()

let answered = latencies.compactMap { $0 }.sorted()
func percentile(_ p: Double) -> Double {
    answered.isEmpty ? 0 : answered[min(answered.count - 1, Int((Double(answered.count) * p).rounded(.up)) - 1)] * 1000
}
print(
    """
    {"mode":"\(maximum ? "max" : "rate")","connections":\(connections),"requests":\(latencies.count),\
    "errors":\(latencies.count - answered.count),"seconds":\(wall),"perSecond":\(Double(answered.count) / wall),\
    "p50Ms":\(percentile(0.5)),"p99Ms":\(percentile(0.99)),"maxMs":\(percentile(1)),\
    "generatorCpuSeconds":\(cpu),"bodyBytes":\(body.count)}
    """)
