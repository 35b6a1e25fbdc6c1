import Foundation

/// A forward proxy in a child process on 127.0.0.1 (Python, as small as a proxy gets): `CONNECT`
/// tunnels, optional basic authentication, or refusal, and routes of its own (a host name sent to
/// a loopback port, as a proxy that stands between the sidecar and Azure would). It prints
/// `listening <port>`, then one line per request: `CONNECT <host:port> auth=<none|ok|bad>`.
package struct ProxyProcess: Sendable {
    package let process: ChildProcess
    package let port: Int

    /// How the proxy answers a `CONNECT`.
    package enum Mode: String, Sendable {
        /// Opens the tunnel.
        case tunnel
        /// Answers 403.
        case refuse
    }

    static let script = #"""
        import base64, json, select, socket, sys, threading
        credentials, mode, routes = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
        expected = None if credentials == "-" else "Basic " + base64.b64encode(credentials.encode()).decode()
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(128)
        print("listening", server.getsockname()[1], flush=True)
        lock = threading.Lock()

        def relay(a, b):
            sockets = [a, b]
            try:
                while True:
                    ready, _, _ = select.select(sockets, [], [], 60)
                    if not ready:
                        return
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        (b if s is a else a).sendall(data)
            except OSError:
                return
            finally:
                a.close()
                b.close()

        def handle(client):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(4096)
                if not chunk:
                    client.close()
                    return
                data += chunk
            head, rest = data.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
            given = headers.get("proxy-authorization")
            auth = "none" if given is None else ("ok" if given == expected else "bad")
            with lock:
                print(method, target, "auth=" + auth, flush=True)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            elif mode == "refuse":
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            elif expected is not None and auth != "ok":
                client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
            else:
                host, port = target.rsplit(":", 1)
                host, port = host.strip("[]"), int(port)
                if host in routes:
                    host, port = "127.0.0.1", routes[host]
                try:
                    upstream = socket.create_connection((host, port), timeout=10)
                except OSError:
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    client.close()
                    return
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                relay(client, upstream)
                return
            client.close()

        while True:
            connection, _ = server.accept()
            threading.Thread(target=handle, args=(connection,), daemon=True).start()
        """#

    /// Starts the proxy and waits until it listens.
    /// - Parameters:
    ///   - credentials: `user:password` it requires, or `nil` for none.
    ///   - mode: Whether it opens tunnels.
    ///   - routes: Host names it sends to a port of 127.0.0.1 instead of resolving them.
    package static func start(
        credentials: String? = nil, mode: Mode = .tunnel, routes: [String: Int] = [:]
    ) async throws -> ProxyProcess {
        let routeText = String(decoding: try JSONEncoder().encode(routes), as: UTF8.self)
        let process = try ChildProcess.startSystem(
            "/usr/bin/python3", ["-u", "-c", script, credentials ?? "-", mode.rawValue, routeText])
        guard let line = await process.firstStdoutLine(), line.hasPrefix("listening "),
            let port = Int(line.dropFirst("listening ".count))
        else {
            process.signal(SIGKILL)
            throw TestFailure("the proxy did not start: \(process.standardError)")
        }
        return ProxyProcess(process: process, port: port)
    }

    /// `http://127.0.0.1:<port>`, with credentials when given.
    package func url(credentials: String? = nil) -> String {
        "http://\(credentials.map { $0 + "@" } ?? "")127.0.0.1:\(port)"
    }

    /// The request lines it printed so far.
    package var requests: [String] {
        process.standardOutput.split(separator: "\n").dropFirst().map(String.init)
    }

    /// Stops it.
    package func stop() async {
        process.signal(SIGKILL)
        _ = await process.exitStatus()
    }
}

/// A test's own error, with what went wrong.
package struct TestFailure: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
