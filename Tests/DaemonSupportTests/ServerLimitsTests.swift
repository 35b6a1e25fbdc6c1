import AzureCore
import DaemonSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TestSupport
import Testing

/// Runs a small plain-HTTP server with `limits` for the body; `/` answers "ok".
func withLimitedServer(
    _ limits: ServerLimits, _ body: (_ port: Int) async throws -> Void
) async throws {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    struct Server: Service {
        let limits: ServerLimits
        let continuation: AsyncStream<Int>.Continuation
        func run() async throws {
            let router = Router(context: PeerRequestContext.self)
            router.get("/") { _, context in
                HTTPServing.json(.ok, ["status": "ok", "loopback": context.isLoopbackClient ? "yes" : "no"])
            }
            try await HTTPServing.serve(
                router, limits: limits, host: "127.0.0.1", port: 0, serverName: "test", what: "test server",
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), clock: ContinuousClock(),
                onListening: { continuation.yield($0) })
        }
    }
    try await withService(Server(limits: limits, continuation: continuation)) {
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        try await body(port)
    }
}

/// A client in another process: opens idle connections and a slow request, then a good request,
/// and reports what the server did with each: when it closed it (watched from the start, so a
/// slow good request does not delay the observation), or that it answered.
let limitsProbe = #"""
    import json, selectors, socket, sys, threading, time
    port, idle = int(sys.argv[1]), int(sys.argv[2])
    def connect():
        return socket.create_connection(("127.0.0.1", port), timeout=10)
    started = time.monotonic()
    idles = [connect() for _ in range(idle)]
    slow = connect()
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the head never ends
    closed_at = {}
    def watch():
        selector = selectors.DefaultSelector()
        for s in idles + [slow]:
            selector.register(s, selectors.EVENT_READ)
        deadline = started + 10
        while len(closed_at) < len(idles) + 1 and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(1024)
                except OSError:
                    data = b""
                if data == b"":
                    closed_at[key.fileobj] = round(time.monotonic() - started, 2)
                    selector.unregister(key.fileobj)
                else:
                    closed_at[key.fileobj] = "answered"
                    selector.unregister(key.fileobj)
    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.1)
    good = connect()
    good.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = good.recv(4096).decode(errors="replace")
    watcher.join()
    print(json.dumps({
        "good": answer.split("\r\n")[0], "goodBody": answer.split("\r\n\r\n")[-1],
        "slowClosedAfter": closed_at.get(slow, "open"),
        "idleClosedAfter": [closed_at.get(s, "open") for s in idles],
    }))
    """#

/// An abuser at 127.0.0.2 fills the server with connections that each completed a request and
/// stay kept-alive; a client at 127.0.0.1 still gets in and is answered.
let parkedProbe = #"""
    import json, socket, sys
    port, count = int(sys.argv[1]), int(sys.argv[2])
    parked = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.2", 0))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
        parked.append(s)
    good = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.0.1", 0))
    good.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = good.recv(4096).decode(errors="replace")
    closed = 0
    for s in parked:
        s.settimeout(0.5)
        try:
            closed += s.recv(1) == b""
        except socket.timeout:
            pass
        except OSError:
            closed += 1
    print(json.dumps({"good": answer.split("\r\n")[0], "parkedClosed": closed}))
    """#

@Suite("Server limits: connection cap, deadlines, requests in flight")
struct ServerLimitsTests {
    @Test("Idle and half-sent connections are closed on their deadlines, and make room for a client that talks")
    func deadlinesAndRoom() async throws {
        let limits = ServerLimits(
            maxConnections: 4, firstRequestTimeout: .milliseconds(1500), requestTimeout: .milliseconds(1500),
            idleTimeout: .seconds(5))
        try await withLimitedServer(limits) { port in
            let child = try ChildProcess.startSystem("/usr/bin/python3", ["-c", limitsProbe, "\(port)", "4"])
            #expect(await child.exitStatus() == 0, "\(child.standardError)")
            let line = try #require(child.standardOutput.split(separator: "\n").last)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(report["good"] as? String == "HTTP/1.1 200 OK", "\(report)")
            #expect((report["goodBody"] as? String)?.contains(#""loopback":"yes""#) == true)
            // Six connections arrived at a cap of four: two idle ones were displaced at once (the
            // oldest silent ones first), the others closed on their 1.5 s deadline, well before
            // the 5 s idle timeout or the 10 s default (the bound leaves room for a loaded machine).
            let idle = (report["idleClosedAfter"] as? [Any]) ?? []
            let times = idle.compactMap { $0 as? Double }
            #expect(times.count == 4, "every idle connection was closed: \(report)")
            #expect(times.allSatisfy { $0 < 4.5 }, "\(report)")
            #expect(times.filter { $0 < 1.4 }.count == 2, "two were displaced before the deadline: \(report)")
            let slow = report["slowClosedAfter"] as? Double
            #expect(slow.map { $0 >= 1.4 && $0 < 4.5 } == true, "a half-sent head is cut at the deadline: \(report)")
        }
    }

    @Test("Kept-alive connections parked by one address make room for a client at another")
    func parkedConnections() async throws {
        let limits = ServerLimits(maxConnections: 4, idleTimeout: .seconds(30))
        try await withLimitedServer(limits) { port in
            let child = try ChildProcess.startSystem("/usr/bin/python3", ["-c", parkedProbe, "\(port)", "4"])
            #expect(await child.exitStatus() == 0, "\(child.standardError)")
            let line = try #require(child.standardOutput.split(separator: "\n").last)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(report["good"] as? String == "HTTP/1.1 200 OK", "\(report)")
            #expect(report["parkedClosed"] as? Int == 1, "one parked connection made room: \(report)")
        }
    }

    @Test("More requests than the bound wait their turn, then get a 503")
    func inFlight() async throws {
        let limiter = ConcurrencyLimiter(limit: 1)
        let (entered, signal) = AsyncStream.makeStream(of: Void.self)
        let (release, unblock) = AsyncStream.makeStream(of: Void.self)
        async let first: Int? = limiter.withPermit(waitingAtMost: .seconds(5), on: ContinuousClock()) {
            signal.yield()
            for await _ in release { break }
            return 1
        }
        var iterator = entered.makeAsyncIterator()
        _ = await iterator.next()
        let second = try await limiter.withPermit(waitingAtMost: .milliseconds(100), on: ContinuousClock()) { 2 }
        #expect(second == nil, "no permit within the wait")
        unblock.yield()
        #expect(try await first == 1)
        #expect(try await limiter.withPermit(waitingAtMost: .milliseconds(100), on: ContinuousClock()) { 3 } == 3)
    }
}

@Suite("Loopback addresses and text from outside")
struct LoopbackAndTextTests {
    @Test("Loopback means 127.0.0.0/8 and ::1 literals only, never a name")
    func loopback() {
        for address in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1"] {
            #expect(IPAddressRule.isLoopback(address), "\(address)")
        }
        for address in ["localhost", "127.evil.example", "127.0.0.1.nip.io", "10.0.0.1", "::2", "", "128.0.0.1"] {
            #expect(!IPAddressRule.isLoopback(address), "\(address)")
        }
        // What /status decides from the peer of a connection.
        #expect(PeerRequestContext.isLoopback(try? SocketAddress(ipAddress: "127.0.0.1", port: 80)))
        #expect(!PeerRequestContext.isLoopback(try? SocketAddress(ipAddress: "10.244.1.7", port: 80)))
        #expect(!PeerRequestContext.isLoopback(nil))
    }

    @Test("Text from outside is escaped and bounded before it reaches a message or a text log")
    func boundedText() {
        let hostile = "a\nb\u{1B}[31mc\u{202E}d" + String(repeating: "x", count: 500)
        let shown = LogText.bounded(hostile, limit: 20)
        #expect(!shown.unicodeScalars.contains { $0.properties.generalCategory == .control || $0 == "\u{202E}" })
        #expect(shown.hasPrefix(#"a\nb\u{1B}[31mc\u{202E}d"#))
        #expect(shown.hasSuffix("…"))
        #expect(LogText.list((0..<9).map { "n\($0)" }, limit: 3) == "n0, n1, n2 and 6 more")
    }

    @Test("Text log lines escape control characters in the message and the metadata; JSON lines escape them too")
    func logLines() {
        let hostile = "refused\n2026-11-30T00:00:00Z INFO forged line \u{1B}[2J"
        let text = DaemonLogHandler.line(
            format: .text, time: Date(timeIntervalSince1970: 0), level: .warning, label: "t", message: hostile,
            metadata: [LogKeys.errorMessage: .string(hostile)])
        #expect(text.filter { $0 == "\n" }.count == 1, "one line: \(text)")
        #expect(!text.unicodeScalars.contains { $0 == "\u{1B}" })
        let json = DaemonLogHandler.line(
            format: .json, time: Date(timeIntervalSince1970: 0), level: .warning, label: "t", message: hostile,
            metadata: [LogKeys.errorMessage: .string(hostile)])
        #expect(json.filter { $0 == "\n" }.count == 1)
        #expect(!json.unicodeScalars.contains { $0 == "\u{1B}" })
    }

    @Test("JSON lines: UTC with milliseconds, integers and Booleans as JSON, empty values left out")
    func typedJSON() throws {
        let line = DaemonLogHandler.line(
            format: .json, time: Date(timeIntervalSince1970: 1_795_791_035.0429), level: .info, label: "t",
            message: "m",
            metadata: [
                LogKeys.durationMs: .integer(1234), LogKeys.nativeSidecar: .boolean(true), LogKeys.msCV: "",
                LogKeys.account: "anchors",
            ])
        let value = try #require(JSON.decode(JSONValue.self, from: Array(line.utf8))?.object)
        #expect(value["time"] == .string("2026-11-27T14:50:35.042Z"))
        #expect(value[LogKeys.durationMs] == .number(1234))
        #expect(value[LogKeys.nativeSidecar] == .bool(true))
        #expect(value[LogKeys.msCV] == nil, "an empty value is left out")
        #expect(value[LogKeys.account] == .string("anchors"))
        #expect(DaemonLogHandler.timestamp(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
    }

    @Test(
        "Log keys: one type each, none both a value and the prefix of another, and docs/logging.md lists exactly them")
    func logKeys() throws {
        let keys = LogKeys.all.map(\.key)
        #expect(Set(keys).count == keys.count, "no key twice")
        for key in keys {
            #expect(!keys.contains { $0.hasPrefix(key + ".") }, "\(key) is also an object")
            #expect(key.hasPrefix("mr.") || ["http.", "url.", "error.", "file."].contains { key.hasPrefix($0) })
        }
        let docs = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appending(path: "docs/logging.md"), encoding: .utf8)
        // The key table: from its header to the first blank line.
        let table = docs.components(separatedBy: "| key | type | meaning |")[1].components(separatedBy: "\n\n")[0]
        let documented = table.split(separator: "\n").compactMap { line -> (String, String)? in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[0].hasPrefix("`"), cells[0].hasSuffix("`") else { return nil }
            return (String(cells[0].dropFirst().dropLast()), cells[1])
        }
        #expect(Set(documented.map(\.0)) == Set(keys).union(["time", "level", "logger", "msg"]))
        for (key, type, _) in LogKeys.all {
            #expect(documented.first { $0.0 == key }?.1 == type.rawValue, "\(key) is documented as \(type)")
        }
    }
}

@Suite("The Date header, formatted without a timer")
struct HTTPDateTests {
    @Test("IMF-fixdate for known instants: RFC 9110's example, a leap day, the epoch, the end of a year")
    func knownInstants() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(1_709_164_800) == "Thu, 29 Feb 2024 00:00:00 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_798_761_599) == "Thu, 31 Dec 2026 23:59:59 GMT")
    }

    @Test("every answer of the servers carries it, for a second between the request and the answer")
    func onAnswers() async throws {
        try await withLimitedServer(ServerLimits()) { port in
            // The seconds between the request and its answer: a loaded machine may take longer than one.
            let sent = Int64(Date().timeIntervalSince1970)
            let response = try await rawRequest(.GET, "http://127.0.0.1:\(port)/", caFile: nil)
            let answered = Int64(Date().timeIntervalSince1970)
            let date = try #require(response.headers["Date"].first)
            #expect((sent...answered).map { HTTPDate.format($0) }.contains(date), "\(date)")
            #expect(response.headers["Server"].first == "test")
        }
    }
}
