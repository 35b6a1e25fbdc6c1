// The webhook's load generator for Benchmarks/run.sh: sends one AdmissionReview body over
// kept-alive HTTPS connections, as the API server does, and prints one JSON line of results.
//
//   mr-webhook-load --url URL --ca FILE --body FILE --connections N --seconds S --rate R
//   mr-webhook-load --url URL --ca FILE --body FILE --connections N --seconds S --max
//
// With --rate, requests are sent open-loop at R a second (each is timed from the moment it was
// due, so a slow answer cannot hide the requests queued behind it: a request due while every
// connection is busy waits for the first free one, and that wait is in its time); with --max,
// each connection sends its next request as soon as the previous one is answered.
//
// Everything runs on one NIO event loop thread: the connections (NIOSSL, NIOHTTP1 codecs), the
// schedule (event-loop timers, which wake within microseconds of their deadline) and the
// bookkeeping, with no Swift-concurrency hop between a due time and its write. It reports its own
// CPU time, so the benchmark can tell whether it or the webhook was the limit.
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

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
    let connectionCount = argument("--connections").flatMap(Int.init), connectionCount > 0
else { fail("usage: mr-webhook-load --url URL --ca FILE --body FILE --connections N --seconds S (--rate R | --max)\n") }
let rate = argument("--rate").flatMap(Double.init)
let maximum = CommandLine.arguments.contains("--max")
guard rate != nil || maximum else { fail("give --rate R or --max\n") }

// https://HOST:PORT/PATH
guard url.hasPrefix("https://") else { fail("--url must be https://HOST:PORT/PATH\n") }
let rest = url.dropFirst("https://".count)
let authority = rest.prefix { $0 != "/" }
let path = String(rest.dropFirst(authority.count))
guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) else {
    fail("--url must name a port\n")
}
let host = String(authority[..<colon])

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

/// The whole run's state and schedule; touched only on the event loop (hence `@unchecked Sendable`).
final class Run: @unchecked Sendable {
    let loop: any EventLoop
    var idle: [Connection] = []
    /// Requests due while every connection was busy, oldest first.
    var waiting: [NIODeadline] = []
    var waitingHead = 0
    var latencies: [Double] = []
    var errors = 0
    var recording = false
    var outstanding = 0
    /// Completed when the last request of a phase has been answered.
    var drained: EventLoopPromise<Void>?

    init(loop: any EventLoop) { self.loop = loop }

    /// Sends a request due at `due` on a free connection, or queues it.
    func dispatch(due: NIODeadline) {
        guard let connection = idle.popLast() else {
            waiting.append(due)
            return
        }
        outstanding += 1
        connection.send(due: due)
    }

    /// A connection finished a request: it takes the oldest waiting one, the next one (--max), or rests.
    func finished(_ connection: Connection, due: NIODeadline, ok: Bool) {
        outstanding -= 1
        if recording {
            if ok {
                latencies.append(Double((NIODeadline.now() - due).nanoseconds) / 1e9)
            } else {
                errors += 1
            }
        }
        if waitingHead < waiting.count {
            let next = waiting[waitingHead]
            waitingHead += 1
            outstanding += 1
            connection.send(due: next)
        } else if maximum && recording {
            outstanding += 1
            connection.send(due: .now())
        } else {
            idle.append(connection)
            drainedIfIdle()
        }
    }

    func drainedIfIdle() {
        guard outstanding == 0, waitingHead == waiting.count, let drained else { return }
        self.drained = nil
        drained.succeed()
    }

    /// Every connection busy until `count` requests are answered, unrecorded.
    func warmUp(_ count: Int, then promise: EventLoopPromise<Void>) {
        drained = promise
        let start = NIODeadline.now()
        for _ in 0..<count { dispatch(due: start) }
    }

    /// Open loop: request `index` is due at `started + index / rate`; one timer armed at a time.
    func schedule(
        index: Int, of total: Int, rate: Double, from started: NIODeadline, then promise: EventLoopPromise<Void>
    ) {
        guard index < total else {
            drained = promise
            return drainedIfIdle()
        }
        let due = started + .nanoseconds(Int64(Double(index) / rate * 1e9))
        loop.scheduleTask(deadline: due) {
            self.dispatch(due: due)
            self.schedule(index: index + 1, of: total, rate: rate, from: started, then: promise)
        }
    }

    func startRecording(then promise: EventLoopPromise<Void>, seconds: Double, rate: Double?) {
        waiting = []
        waitingHead = 0
        recording = true
        let started = NIODeadline.now()
        if let rate {
            schedule(index: 0, of: Int(rate * seconds), rate: rate, from: started, then: promise)
        } else {
            let connections = idle
            idle = []
            for connection in connections {
                outstanding += 1
                connection.send(due: .now())
            }
            loop.scheduleTask(deadline: started + .nanoseconds(Int64(seconds * 1e9))) {
                self.recording = false
                self.drained = promise
                self.drainedIfIdle()
            }
        }
    }
}

/// One kept-alive connection: a request at a time, timed from its due time to the end of its answer.
final class Connection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let run: Run
    var context: ChannelHandlerContext?
    var due: NIODeadline?
    var status: HTTPResponseStatus = .ok
    let head: HTTPRequestHead
    let payload: ByteBuffer

    init(run: Run) {
        self.run = run
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: String(authority))
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)
        payload = ByteBuffer(bytes: body)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func send(due: NIODeadline) {
        guard let context else { return run.finished(self, due: due, ok: false) }
        self.due = due
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let response): status = response.status
        case .body: break
        case .end:
            guard let due else { return }
            self.due = nil
            run.finished(self, due: due, ok: status == .ok)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("connection failed: \(error)\n")
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let due { fail("the webhook closed a connection with a request in flight (due \(due))\n") }
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
var tls = TLSConfiguration.makeClientConfiguration()
tls.trustRoots = .file(ca)
let sslContext: NIOSSLContext
do { sslContext = try NIOSSLContext(configuration: tls) } catch { fail("TLS: \(error)\n") }
let run = Run(loop: loop)

for _ in 0..<connectionCount {
    let bootstrap = ClientBootstrap(group: loop).channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            let handler = Connection(run: run)
            try channel.pipeline.syncOperations.addHandler(
                NIOSSLClientHandler(context: sslContext, serverHostname: nil))
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            try channel.pipeline.syncOperations.addHandler(handler)
            run.idle.append(handler)
        }
    }
    do { _ = try bootstrap.connect(host: host, port: port).wait() } catch { fail("connect: \(error)\n") }
}

// Warm up: 20 answered requests per connection, every connection busy, to open the TLS sessions
// and let both sides reach a steady state.
let warm = loop.makePromise(of: Void.self)
loop.execute { run.warmUp(connectionCount * 20, then: warm) }
do { try warm.futureResult.wait() } catch { fail("\(error)\n") }

let cpuBefore = cpuSeconds()
let started = NIODeadline.now()
let done = loop.makePromise(of: Void.self)
loop.execute { run.startRecording(then: done, seconds: seconds, rate: rate) }
do { try done.futureResult.wait() } catch { fail("\(error)\n") }
let finishedAt = NIODeadline.now()
let wall = Double((finishedAt - started).nanoseconds) / 1e9
let cpu = cpuSeconds() - cpuBefore
try? group.syncShutdownGracefully()

let answered = run.latencies.sorted()
func percentile(_ p: Double) -> Double {
    answered.isEmpty ? 0 : answered[min(answered.count - 1, Int((Double(answered.count) * p).rounded(.up)) - 1)] * 1000
}
print(
    """
    {"mode":"\(maximum ? "max" : "rate")","connections":\(connectionCount),"requests":\(answered.count + run.errors),\
    "errors":\(run.errors),"seconds":\(wall),"perSecond":\(Double(answered.count) / wall),\
    "p50Ms":\(percentile(0.5)),"p99Ms":\(percentile(0.99)),"maxMs":\(percentile(1)),\
    "generatorCpuSeconds":\(cpu),"bodyBytes":\(body.count)}
    """)
