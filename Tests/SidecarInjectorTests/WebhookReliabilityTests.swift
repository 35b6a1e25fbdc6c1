import AzureCore
import Foundation
import SidecarInjector
import TestSupport
import Testing

/// The attacker and the well-behaved client, in one Python process: hundreds of idle TCP
/// connections and half-open TLS ones (a partial ClientHello, or a handshake and half a request
/// head), re-opened as the webhook closes them; a flood of maximum-size AdmissionReviews from
/// several threads; and meanwhile a client sending a small review every 100 ms, on a kept-alive
/// connection and on new ones, as the API server does. The attacker connects from 127.0.0.2 (a
/// pod), the client from 127.0.0.1 (the API server). Prints the client's latencies as JSON.
/// The well-behaved client of both scripts, as the API server sends reviews: a small one every
/// 100 ms from 127.0.0.1, alternately on a kept-alive and on a new connection, each answer's
/// latency or failure counted in `figures` (`goodSent`, `goodFailed`, `latenciesMs`).
let webhookGoodClient = #"""
    import http.client, json, time

    def good_client(port, context, good_review, stop, figures):
        kept = None
        while time.monotonic() < stop - 1:
            started = time.monotonic()
            try:
                if kept is None or figures["goodSent"] % 2 == 0:
                    if kept is not None: kept.close()
                    kept = http.client.HTTPSConnection(
                        "127.0.0.1", int(port), context=context, timeout=10, source_address=("127.0.0.1", 0))
                kept.request("POST", "/mutate", body=good_review, headers={"Content-Type": "application/json"})
                response = kept.getresponse()
                answer = json.loads(response.read())
                ok = response.status == 200 and answer["response"]["allowed"] is True
            except Exception:
                ok, kept = False, None
            figures["goodSent"] += 1
            if ok:
                figures["latenciesMs"].append((time.monotonic() - started) * 1000)
            else:
                figures["goodFailed"] += 1
            time.sleep(0.1)

    """#

let webhookAbuser =
    webhookGoodClient + #"""
        import http.client, json, os, socket, ssl, sys, threading, time
        port, ca, seconds, idle, halfopen, flooders = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        good_review, big_reviews = open(sys.argv[7], "rb").read(), [open(p, "rb").read() for p in sys.argv[8:]]
        context = ssl.create_default_context(cafile=ca)
        attacker = ("127.0.0.2", 0)
        stop = time.monotonic() + seconds
        figures = {"idleOpened": 0, "halfOpenOpened": 0, "floodSent": 0, "floodAnswers": {}, "goodSent": 0, "goodFailed": 0, "latenciesMs": []}
        lock = threading.Lock()

        def hold_idle():
            socks = []
            while time.monotonic() < stop:
                socks = [s for s in socks if not closed(s)]
                while len(socks) < idle:
                    try:
                        s = socket.create_connection(("127.0.0.1", int(port)), timeout=5, source_address=attacker)
                        s.setblocking(False)
                        socks.append(s)
                        with lock: figures["idleOpened"] += 1
                    except OSError:
                        break
                time.sleep(0.2)
            for s in socks: s.close()

        def closed(s):
            try:
                if isinstance(s, ssl.SSLSocket):
                    return s.recv(1) == b""
                return s.recv(1, socket.MSG_PEEK) == b""
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return False
            except (OSError, ValueError):
                return True

        def hold_half_open(index):
            conns = []
            while time.monotonic() < stop:
                conns = [c for c in conns if not closed(c)]
                while len(conns) < halfopen // 2:
                    try:
                        raw = socket.create_connection(("127.0.0.1", int(port)), timeout=5, source_address=attacker)
                        if index % 2 == 0:
                            raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
                            conn = raw
                        else:
                            conn = context.wrap_socket(raw, server_hostname="127.0.0.1")
                            conn.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")  # no end
                        conn.setblocking(False)
                        conns.append(conn)
                        with lock: figures["halfOpenOpened"] += 1
                    except OSError:
                        break
                time.sleep(0.2)
            for c in conns: c.close()

        def flood(index):
            while time.monotonic() < stop:
                body = big_reviews[index % len(big_reviews)]
                try:
                    conn = http.client.HTTPSConnection(
                        "127.0.0.1", int(port), context=context, timeout=30, source_address=attacker)
                    conn.request("POST", "/mutate", body=body, headers={"Content-Type": "application/json"})
                    status = conn.getresponse().status
                    conn.close()
                except Exception as error:
                    status = type(error).__name__
                with lock:
                    figures["floodSent"] += 1
                    figures["floodAnswers"][str(status)] = figures["floodAnswers"].get(str(status), 0) + 1

        threads = [threading.Thread(target=hold_idle)] + [threading.Thread(target=hold_half_open, args=(i,)) for i in range(2)]
        threads += [threading.Thread(target=flood, args=(i,)) for i in range(flooders)]
        for t in threads: t.start()
        time.sleep(1)  # the attack is on before the first good review
        good_client(port, context, good_review, stop, figures)
        for t in threads: t.join()
        print(json.dumps(figures), flush=True)
        """#

/// Stalled bodies: silent TCP connections, then TLS connections that send a review's head with
/// `Content-Length: 100000` and one byte of body, from 127.0.0.2; meanwhile a client sends a small
/// review every 100 ms from 127.0.0.1. Prints the client's figures and, for each stalled
/// connection, how long it stayed open (`null`: still open at the end).
let webhookStaller =
    webhookGoodClient + #"""
        import http.client, json, socket, ssl, sys, threading, time
        port, ca, seconds, silent, stalled = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        good_review = open(sys.argv[6], "rb").read()
        context = ssl.create_default_context(cafile=ca)
        attacker = ("127.0.0.2", 0)
        figures = {"goodSent": 0, "goodFailed": 0, "latenciesMs": [], "silentOpenSeconds": [], "stalledOpenSeconds": []}
        connections = []  # (kind, socket, opened at, closed after)

        def open_silent():
            s = socket.create_connection(("127.0.0.1", int(port)), timeout=5, source_address=attacker)
            return s

        def open_stalled():
            raw = socket.create_connection(("127.0.0.1", int(port)), timeout=5, source_address=attacker)
            conn = context.wrap_socket(raw, server_hostname="127.0.0.1")
            conn.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            return conn

        for kind, count, opener in (("silent", silent, open_silent), ("stalled", stalled, open_stalled)):
            for _ in range(count):
                try:
                    connections.append([kind, opener(), time.monotonic(), None])
                except OSError:
                    connections.append([kind, None, time.monotonic(), 0.0])  # refused or cut during the handshake

        stop = time.monotonic() + seconds
        def watch():
            while time.monotonic() < stop:
                for entry in connections:
                    kind, conn, opened, closed_after = entry
                    if closed_after is not None:
                        continue
                    try:
                        conn.setblocking(False)
                        data = conn.recv(65536)
                        if data == b"":
                            entry[3] = time.monotonic() - opened
                    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                    except (OSError, ValueError):
                        entry[3] = time.monotonic() - opened
                time.sleep(0.05)
        watcher = threading.Thread(target=watch)
        watcher.start()

        good_client(port, context, good_review, stop, figures)
        watcher.join()
        for kind, conn, opened, closed_after in connections:
            figures[kind + "OpenSeconds"].append(closed_after)
            if conn is not None: conn.close()
        print(json.dumps(figures), flush=True)
        """#

@Suite("Reliability: the webhook under abuse", .serialized, Reliability.heavySuite)
struct WebhookReliabilityTests {
    /// An AdmissionReview of the workload-identity fixture whose pod carries `annotations`
    /// annotations of `size` bytes each.
    func bigReview(annotations count: Int, size: Int) throws -> [UInt8] {
        var pod = try AdmissionFixtures.pod("workload-identity").object ?? [:]
        var metadata = pod["metadata"]?.object ?? [:]
        var annotations = metadata["annotations"]?.object ?? [:]
        for index in 0..<count { annotations["a.example/\(index)"] = .string(String(repeating: "x", count: size)) }
        metadata["annotations"] = .object(annotations)
        pod["metadata"] = .object(metadata)
        return AdmissionFixtures.review(.object(pod))
    }

    @Test(
        "Bodies that stop arriving: every stalled connection is closed within the body deadline, and every good review is answered meanwhile"
    )
    func stalledBodies() async throws {
        try await withTemporaryDirectory { directory in
            let (webhook, port, files) = try await startWebhookProcess(
                in: directory, name: "stalled", arguments: ["--log-level", "notice", "--body-timeout", "5s"])
            let good = directory.appending(path: "good.json")
            try Data(AdmissionFixtures.review(try AdmissionFixtures.pod("workload-identity"))).write(to: good)
            let seconds = 20
            let staller = try ChildProcess.startSystem(
                "/usr/bin/python3",
                ["-c", webhookStaller, "\(port)", files.caFile, "\(seconds)", "300", "150", good.path])
            #expect(await staller.exitStatus() == 0, "\(staller.standardError)")
            let output = try #require(staller.standardOutput.split(separator: "\n").last)
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            let latencies = ((figures["latenciesMs"] as? [Double]) ?? []).sorted()
            #expect(figures["goodFailed"] as? Int == 0, "good reviews not answered: \(figures["goodFailed"] ?? "?")")
            #expect(latencies.count >= seconds / 2, "the client kept getting answers: \(latencies.count)")
            #expect((latencies.last ?? 0) < 5000, "each within the API server's 5 s")
            // Stalled bodies: the body deadline (5 s), or the minimum rate after the first second,
            // and a margin for a loaded machine; silent connections: the first-request deadline (10 s).
            func openSeconds(_ kind: String) -> [Double?] {
                ((figures[kind + "OpenSeconds"] as? [Any]) ?? []).map { $0 as? Double }
            }
            let stalled = openSeconds("stalled")
            let silent = openSeconds("silent")
            #expect(stalled.count == 150 && silent.count == 300)
            #expect(
                stalled.allSatisfy { $0 != nil }, "\(stalled.filter { $0 == nil }.count) stalled connections still open"
            )
            #expect(
                silent.allSatisfy { $0 != nil }, "\(silent.filter { $0 == nil }.count) silent connections still open")
            let slowestStalled = stalled.compactMap { $0 }.max() ?? 0
            let slowestSilent = silent.compactMap { $0 }.max() ?? 0
            #expect(slowestStalled < 8, "a stalled body held its connection \(slowestStalled) s")
            #expect(slowestSilent < 13, "a silent connection stayed \(slowestSilent) s")
            webhook.signal(SIGTERM)
            #expect(await webhook.exitStatus() == 0)
            Reliability.report(
                "webhook-stalled-bodies",
                [
                    "seconds": seconds, "goodAnswered": latencies.count,
                    "goodP50Ms": String(format: "%.1f", latencies.isEmpty ? 0 : latencies[latencies.count / 2]),
                    "goodMaxMs": String(format: "%.1f", latencies.last ?? 0),
                    "slowestStalledCloseSeconds": String(format: "%.1f", slowestStalled),
                    "slowestSilentCloseSeconds": String(format: "%.1f", slowestSilent),
                ])
        }
    }

    @Test(
        "Idle and half-open TLS connections and a flood of maximum-size reviews: good reviews keep being answered in time, memory stays inside the chart's limit"
    )
    func abuse() async throws {
        let seconds = Reliability.count(ci: 20, full: 60)
        try await withTemporaryDirectory { directory in
            let (webhook, port, files) = try await startWebhookProcess(
                in: directory, name: "abuse", arguments: ["--log-level", "notice"])
            let good = directory.appending(path: "good.json")
            try Data(AdmissionFixtures.review(try AdmissionFixtures.pod("workload-identity"))).write(to: good)
            // Over the body limit (refused unread), just under it with many values (the most
            // parsing), just under it with one large value (the most bytes held).
            let big = [
                try bigReview(annotations: 150_000, size: 1), try bigReview(annotations: 50_000, size: 16),
                try bigReview(annotations: 1, size: 2_000_000),
            ]
            #expect(big[0].count > AdmissionHandler.maxBodyBytes)
            #expect(big[1...].allSatisfy { $0.count > AdmissionHandler.maxBodyBytes * 85 / 100 })
            #expect(big[1...].allSatisfy { $0.count <= AdmissionHandler.maxBodyBytes })
            var bigPaths: [String] = []
            for (index, body) in big.enumerated() {
                let path = directory.appending(path: "big-\(index).json")
                try Data(body).write(to: path)
                bigPaths.append(path.path)
            }

            let abuser = try ChildProcess.startSystem(
                "/usr/bin/python3",
                ["-c", webhookAbuser, "\(port)", files.caFile, "\(seconds)", "300", "100", "12", good.path] + bigPaths)
            // RSS counts the binary's own pages, which the kernel can drop and read again under a
            // memory limit; anonymous memory it cannot, so that is what must stay well inside it.
            var peakKiB = 0
            var peakAnonymousKiB = 0
            while await !abuser.hasExited(within: .milliseconds(200)) {
                peakKiB = max(peakKiB, statusKiB(webhook.processIdentifier, "VmRSS"))
                peakAnonymousKiB = max(peakAnonymousKiB, statusKiB(webhook.processIdentifier, "RssAnon"))
            }
            #expect(await abuser.exitStatus() == 0, "\(abuser.standardError)")
            let output = try #require(abuser.standardOutput.split(separator: "\n").last)
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
            let latencies = ((figures["latenciesMs"] as? [Double]) ?? []).sorted()
            let failed = figures["goodFailed"] as? Int ?? -1
            #expect(failed == 0, "good reviews not answered: \(figures)")
            // One good review every 100 ms plus its latency; on 2 busy cores (the whole suite runs
            // beside it) far fewer get through: 19 to 33 in 20 s in CI runs, with answers taking up
            // to 2.5 s. The point is that none failed and each came within the API server's 5 s;
            // this bar only says the client kept getting answers: one every 2 s at least.
            #expect(latencies.count >= seconds / 2, "\(figures)")
            let p50 = latencies.isEmpty ? 0 : latencies[latencies.count / 2]
            let p99 = latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
            let worst = latencies.last ?? 0
            #expect(worst < 5000, "the API server gives up after timeoutSeconds (5 s)")
            // 96 MiB leaves 32 MiB of the chart's 128Mi for the pages of the binary in use. Runs of
            // this test have peaked at 36 to 63 MiB (sampled every 200 ms), most of it the one large
            // review being parsed (about 20 MiB for 50,000 annotations) and the attackers' connections.
            #expect(peakAnonymousKiB < 96 * 1024, "within the chart's 128Mi limit: \(peakAnonymousKiB) KiB anonymous")
            webhook.signal(SIGTERM)
            #expect(await webhook.exitStatus() == 0)
            Reliability.report(
                "webhook-abuse",
                [
                    "seconds": seconds, "idleOpened": figures["idleOpened"] ?? 0,
                    "halfOpenOpened": figures["halfOpenOpened"] ?? 0, "floodSent": figures["floodSent"] ?? 0,
                    "floodAnswers": figures["floodAnswers"] ?? [:], "goodAnswered": latencies.count,
                    "goodFailed": failed, "goodP50Ms": String(format: "%.1f", p50),
                    "goodP99Ms": String(format: "%.1f", p99), "goodMaxMs": String(format: "%.1f", worst),
                    "peakRSSMiB": String(format: "%.1f", Double(peakKiB) / 1024),
                    "peakAnonymousMiB": String(format: "%.1f", Double(peakAnonymousKiB) / 1024),
                ])
        }
    }
}
