import AzureCore
import Crypto
import Foundation
import MixedRealityAuthentication
import NIOHTTP1
import STSEmulator
import TestSupport
import Testing

@testable import TokenSidecar

/// A JWT-shaped token whose signature part is the SHA-256 of the rest, so that a reader can tell a
/// whole token from a torn one. Sizes vary, so a truncated or mixed read cannot pass.
func checkedToken(_ index: Int, account: String) -> [UInt8] {
    let now = Int(Date().timeIntervalSince1970)
    let header = Base64URL.encode(Array(#"{"alg":"RS256","typ":"JWT"}"#.utf8))
    let padding = String(repeating: "p", count: (index * 7919) % 2000)
    let payload = Base64URL.encode(
        Array(#"{"aid":"\#(account)","iat":\#(now),"exp":\#(now + 86400),"n":\#(index),"pad":"\#(padding)"}"#.utf8))
    let body = header + "." + payload
    let digest = SHA256.hash(data: Array(body.utf8)).map { String(format: "%02x", $0) }.joined()
    return Array((body + "." + digest).utf8)
}

/// A reader in another process: reads the file in a tight loop until the stop file appears and
/// prints how many reads were whole tokens.
let tornReadReader = #"""
    import base64, hashlib, json, os, sys
    path, stop = sys.argv[1], sys.argv[2]
    print("ready", flush=True)
    reads = bad = 0
    seen = set()
    problems = []
    while not os.path.exists(stop):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            bad += 1
            problems.append("missing")
            continue
        reads += 1
        parts = data.split(b".")
        ok = len(parts) == 3 and hashlib.sha256(parts[0] + b"." + parts[1]).hexdigest().encode() == parts[2]
        if ok:
            try:
                seen.add(json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))["n"])
            except Exception:
                ok = False
        if not ok:
            bad += 1
            problems.append(repr(data[:40]))
    print(json.dumps({"reads": reads, "bad": bad, "distinct": len(seen), "problems": problems[:5]}), flush=True)
    """#

/// A reader of the sidecar's own token file: every read must be a whole JWT of the account (three
/// parts, a JSON payload with its `aid` and a numeric `exp`, an RS256 signature of 342 characters).
let sidecarTokenReader = #"""
    import base64, json, os, sys
    path, stop, account = sys.argv[1], sys.argv[2], sys.argv[3]
    print("ready", flush=True)
    reads = bad = 0
    problems = []
    while not os.path.exists(stop):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            bad += 1
            problems.append("missing")
            continue
        reads += 1
        parts = data.split(b".")
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + b"=" * (-len(parts[1]) % 4)))
            ok = len(parts) == 3 and len(parts[2]) == 342 and claims["aid"] == account and isinstance(claims["exp"], int)
        except Exception:
            ok = False
        if not ok:
            bad += 1
            problems.append(repr(data[:40]))
    print(json.dumps({"reads": reads, "bad": bad, "problems": problems[:5]}), flush=True)
    """#

func fileMode(_ path: String) throws -> (mode: Int, uid: Int, gid: Int) {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (
        (attributes[.posixPermissions] as? Int) ?? -1, (attributes[.ownerAccountID] as? Int) ?? -1,
        (attributes[.groupOwnerAccountID] as? Int) ?? -1
    )
}

func temporaries(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
        $0.contains(AtomicFileSink.temporaryMarker)
    }
}

@Suite("Reliability: torn reads, crashes, a full disk, hostile paths, broken TLS", .serialized, Reliability.heavySuite)
struct ReliabilityTests {
    @Test("No torn reads: readers in other processes see only whole tokens while the file rotates")
    func tornReads() async throws {
        let rotations = Reliability.count(ci: 2_000, full: 10_000)
        let readerCount = 3
        try await withTemporaryDirectory { directory in
            let path = directory.appending(path: "anchors.token").path
            let stop = directory.appending(path: "stop").path
            let sink = AtomicFileSink()
            let isRoot = getuid() == 0
            // As root the owner and group are set on every write, and checked after each.
            let owner = isRoot ? 4321 : nil
            let group = isRoot ? 8765 : nil
            try sink.write(checkedToken(0, account: "a"), to: path, mode: 0o440, owner: owner, group: group)
            let readers = try (0..<readerCount).map { _ in
                try ChildProcess.startSystem("/usr/bin/python3", ["-c", tornReadReader, path, stop])
            }
            for reader in readers { #expect(await reader.firstStdoutLine() == "ready") }
            let started = ContinuousClock.now
            var wrongAttributes = 0
            for index in 1...rotations {
                try sink.write(checkedToken(index, account: "a"), to: path, mode: 0o440, owner: owner, group: group)
                let attributes = try fileMode(path)
                if attributes.mode != 0o440 || (isRoot && (attributes.uid != 4321 || attributes.gid != 8765)) {
                    wrongAttributes += 1
                }
            }
            let elapsed = ContinuousClock.now - started
            #expect(FileManager.default.createFile(atPath: stop, contents: nil))
            let (reads, bad) = try await readerTotals(readers)
            #expect(bad == 0)
            #expect(wrongAttributes == 0)
            #expect(reads > rotations, "the readers should read more often than the file rotates")
            #expect(temporaries(in: directory.path).isEmpty)
            Reliability.report(
                "torn-reads",
                [
                    "rotations": rotations, "readers": readerCount, "reads": reads, "bad": bad,
                    "wrongModeOrOwner": wrongAttributes,
                    "msPerRotation": String(format: "%.2f", milliseconds(elapsed) / Double(rotations)),
                ])
        }
    }

    @Test("No torn reads while the running sidecar replaces the file every few milliseconds")
    func tornReadsFromTheSidecar() async throws {
        let rotations = Reliability.count(ci: 1_000, full: 10_000)
        // 1-second tokens refreshed at 0.1% of their lifetime: the refresh point is always past,
        // and with a backoff of 1 ms the early-token guard waits 1 ms, so the sidecar exchanges
        // and replaces the file about as fast as it can (a new jti each time).
        try await withSidecar(stsLifetime: 1) { harness in
            try harness.writeConfig(
                [harness.defaultAccount], refresh: "  at: 0.001\n  jitter: 0", backoff: ("1ms", "1ms"),
                logLevel: "warning")
            let path = harness.output("anchors")
            let stop = harness.directory.appending(path: "stop").path
            let child = try harness.start()
            let deadline = ContinuousClock.now + .seconds(30)
            while harness.read(path) == nil && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            let readers = try (0..<3).map { _ in
                try ChildProcess.startSystem(
                    "/usr/bin/python3", ["-c", sidecarTokenReader, path, stop, harness.fixture.identities.accountId])
            }
            for reader in readers { #expect(await reader.firstStdoutLine() == "ready") }
            let before = harness.fixture.emulator.totalRequests
            let started = ContinuousClock.now
            #expect(await harness.fixture.emulator.waitForRequests(count: before + rotations, timeout: .seconds(120)))
            let elapsed = ContinuousClock.now - started
            #expect(FileManager.default.createFile(atPath: stop, contents: nil))
            let (reads, bad) = try await readerTotals(readers)
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            #expect(bad == 0)
            #expect(try fileMode(path).mode == 0o440)
            #expect(temporaries(in: harness.directory.appending(path: "out").path).isEmpty)
            expectNoSecrets(child, harness.secrets())
            Reliability.report(
                "torn-reads-sidecar",
                [
                    "rotations": rotations, "readers": readers.count, "reads": reads, "bad": bad,
                    "msPerRotation": String(format: "%.2f", milliseconds(elapsed) / Double(rotations)),
                ])
        }
    }

    @Test("A temporary name held by an attacker's symlink is not followed; the write fails safely")
    func symlinkAtTemporaryName() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appending(path: "anchors.token").path
            let victim = directory.appending(path: "victim").path
            try "precious".write(toFile: victim, atomically: true, encoding: .utf8)
            var sink = AtomicFileSink()
            try sink.write(checkedToken(1, account: "a"), to: path, mode: 0o440, owner: nil, group: nil)
            let before = try Data(contentsOf: URL(filePath: path))
            sink.temporarySuffix = { "predictable" }
            let planted = directory.appending(path: ".anchors.token\(AtomicFileSink.temporaryMarker)predictable").path
            try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim)
            #expect(throws: SidecarError.self) {
                try sink.write(checkedToken(2, account: "a"), to: path, mode: 0o440, owner: nil, group: nil)
            }
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
            #expect(try Data(contentsOf: URL(filePath: path)) == before)
            // The attacker's link at the target itself is replaced, never written through.
            try FileManager.default.removeItem(atPath: path)
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: victim)
            sink.temporarySuffix = { AtomicFileSink.randomSuffix() }
            try sink.write(checkedToken(3, account: "a"), to: path, mode: 0o440, owner: nil, group: nil)
            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
            #expect(
                (try FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular)
            #expect(try fileMode(path).mode == 0o440)
        }
    }

    @Test("SIGKILL at random moments: each file is a whole token or absent, stray temporaries go at the next start")
    func crashes() async throws {
        let kills = Reliability.count(ci: 60, full: 300)
        try await withSidecar(stsLifetime: 2) { harness in
            let accounts = harness.accounts(20, prefix: "account")
            try harness.writeConfig(accounts)
            let out = harness.directory.appending(path: "out").path
            var generator = SeededGenerator(state: 7)
            var midWrite = 0
            var strays: Set<String> = []
            var torn = 0
            var present = 0
            for _ in 0..<kills {
                let child = try harness.start()
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...400, using: &generator)))
                child.signal(SIGKILL)
                _ = await child.exitStatus()
                expectNoSecrets(child, harness.secrets())
                let left = temporaries(in: out)
                if !left.isEmpty { midWrite += 1 }
                strays.formUnion(left)
                for account in accounts {
                    guard let text = harness.read(harness.output(account.name)) else { continue }
                    present += 1
                    let claims = try? JWTExpiry.claims(of: text)
                    if claims?.accountId != account.accountId
                        || (try? fileMode(harness.output(account.name)).mode) != 0o440
                    {
                        torn += 1
                    }
                }
            }
            #expect(torn == 0)
            // The next start removes what the crashes left, then writes every token.
            let once = try harness.start(["run", "--once"])
            #expect(await once.exitStatus() == 0)
            #expect(temporaries(in: out).isEmpty)
            for account in accounts {
                let text = try #require(harness.read(harness.output(account.name)))
                #expect(try JWTExpiry.claims(of: text).accountId == account.accountId)
            }
            expectNoSecrets(once, harness.secrets())
            Reliability.report(
                "sigkill",
                [
                    "kills": kills, "killedWithATemporaryOnDisk": midWrite, "strayTemporaries": strays.count,
                    "filesChecked": present, "torn": torn,
                ])
        }
    }

    @Test("After SIGKILL a restart adopts the still-valid tokens without an STS request")
    func crashAdoption() async throws {
        let rounds = Reliability.count(ci: 5, full: 20)
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            var adopted = 0
            for round in 0..<rounds {
                let before = harness.stsRequests(harness.fixture.identities.accountId).count
                let child = try harness.start()
                let port = try #require(await harness.probePort(child))
                try await waitForReady(port)
                if round > 0 {
                    #expect(harness.stsRequests(harness.fixture.identities.accountId).count == before)
                    if harness.stsRequests(harness.fixture.identities.accountId).count == before { adopted += 1 }
                }
                child.signal(SIGKILL)
                _ = await child.exitStatus()
            }
            #expect(harness.stsRequests(harness.fixture.identities.accountId).count == 1)
            Reliability.report("sigkill-adoption", ["restarts": rounds - 1, "adoptedWithoutSTS": adopted])
        }
    }

    @Test(
        "A full disk keeps the old token, reports the error in /status and metrics, and writing resumes",
        .enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
    func fullDisk() async throws {
        try await withSidecar(stsLifetime: 4) { harness in
            try harness.writeConfig([harness.defaultAccount])
            let out = harness.directory.appending(path: "out").path
            let mount = try ChildProcess.startSystem("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", out])
            try #require(await mount.exitStatus() == 0, "tmpfs cannot be mounted here: \(mount.standardError)")
            defer {
                let unmount = try? Process.run(URL(filePath: "/bin/umount"), arguments: ["-l", out])
                unmount?.waitUntilExit()
            }
            let child = try harness.start()
            let port = try #require(await harness.probePort(child))
            try await waitForReady(port)
            let path = harness.output("anchors")

            // Fill the tmpfs to the last block.
            let filler = out + "/filler"
            #expect(FileManager.default.createFile(atPath: filler, contents: nil))
            let handle = try FileHandle(forWritingTo: URL(filePath: filler))
            while (try? handle.write(contentsOf: Data(count: 1024))) != nil {}
            try? handle.close()

            let failed = try await waitForMetric(
                port, #"mr_token_refresh_attempts_total{account="anchors",result="write_failed"}"#, atLeast: 2)
            #expect(failed >= 2)
            let kept = try #require(harness.read(path))
            #expect(try JWTExpiry.claims(of: kept).accountId == harness.fixture.identities.accountId)
            let status = try await rawRequest(.GET, "http://127.0.0.1:\(port)/status", caFile: nil).json()
            let account = try #require((status["accounts"] as? [[String: Any]])?.first)
            let lastError = try #require(account["lastError"] as? [String: Any])
            #expect(lastError["kind"] as? String == "write_failed")
            #expect((lastError["message"] as? String)?.contains(out) == true)
            _ = try await waitForMetric(
                port, #"mr_token_refresh_attempts_total{account="anchors",result="write_failed"}"#, atLeast: failed + 1)
            #expect(harness.read(path) == kept)
            #expect(temporaries(in: out).isEmpty)

            // Space returns: the next attempt writes a new token.
            try FileManager.default.removeItem(atPath: filler)
            let deadline = ContinuousClock.now + .seconds(30)
            while harness.read(path) == kept && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let fresh = try #require(harness.read(path))
            #expect(fresh != kept)
            #expect(try JWTExpiry.expiry(of: fresh) > Date())
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets(extra: [kept, fresh]))
            Reliability.report("full-disk", ["writeFailuresSeen": failed, "recovered": fresh != kept])
        }
    }

    @Test("Under churn (50 accounts, 6 s tokens) no served token expires and memory does not grow")
    func churn() async throws {
        let seconds = Reliability.count(ci: 15, full: 120)
        try await withSidecar(stsLifetime: 6) { harness in
            let accounts = harness.accounts(50, prefix: "churn")
            try harness.writeConfig(accounts)
            let child = try harness.start()
            let port = try #require(await harness.probePort(child))
            try await waitForReady(port)
            var expired = 0
            var samples: [Int] = []
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(seconds) {
                try await Task.sleep(for: .seconds(1))
                let now = Date()
                for account in accounts {
                    if let text = harness.read(harness.output(account.name)),
                        let expiry = try? JWTExpiry.expiry(of: text),
                        expiry <= now
                    {
                        expired += 1
                    }
                }
                samples.append(statusKiB(child.processIdentifier, "VmRSS"))
            }
            let refreshes = harness.stsRequests(harness.fixture.identities.accountId).count
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            #expect(expired == 0)
            // After the first few seconds (buffers and caches warm), RSS stays flat.
            let settled = samples.dropFirst(min(5, samples.count - 1))
            let growth = (settled.last ?? 0) - (settled.first ?? 0)
            #expect(growth < 4096, "RSS grew by \(growth) KiB over \(seconds) s: \(samples)")
            expectNoSecrets(child, harness.secrets())
            Reliability.report(
                "churn",
                [
                    "seconds": seconds, "accounts": 50, "exchanges": refreshes, "expiredSeen": expired,
                    "rssKiBFirst": settled.first ?? 0, "rssKiBLast": settled.last ?? 0,
                ])
        }
    }
}

/// Polls /readyz (each poll an HTTP request) until it answers 200.
func waitForReady(_ port: Int, timeout: Duration = .seconds(30)) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await rawRequest(.GET, "http://127.0.0.1:\(port)/readyz", caFile: nil).status) == 200 { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("/readyz on \(port) never answered 200")
}

/// Polls /metrics until the series reaches `atLeast`; returns its value.
func waitForMetric(_ port: Int, _ series: String, atLeast: Int, timeout: Duration = .seconds(30)) async throws -> Int {
    let deadline = ContinuousClock.now + timeout
    var value = 0
    while ContinuousClock.now < deadline {
        let text = try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil).text
        if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(series + " ") }) {
            value = Int(Double(line.split(separator: " ").last ?? "0") ?? 0)
            if value >= atLeast { return value }
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("\(series) stayed at \(value), below \(atLeast)")
    return value
}

/// Waits for the reader processes to print their summary; returns the reads and the bad ones.
func readerTotals(_ readers: [ChildProcess]) async throws -> (reads: Int, bad: Int) {
    var reads = 0
    var bad = 0
    for reader in readers {
        #expect(await reader.exitStatus() == 0)
        let summary = try #require(reader.standardOutput.split(separator: "\n").last)
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        reads += figures["reads"] as? Int ?? 0
        bad += figures["bad"] as? Int ?? -1
        #expect((figures["problems"] as? [String] ?? []).isEmpty, "\(figures)")
    }
    return (reads, bad)
}
