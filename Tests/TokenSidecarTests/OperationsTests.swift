import AzureCore
import Foundation
import Logging
import MixedRealityAuthentication
import NIOHTTP1
import STSEmulator
import SidecarConfig
import TestSupport
import Testing
import TokenSidecarTesting

@testable import TokenSidecar

#if canImport(Glibc)
import Glibc
#endif

@Suite("Operations: termination message, key rotation, several outputs, the app's reads")
struct OperationsTests {
    @Test(
        "a failed --once leaves a secret-free summary with the hop, the codes and the fix in --termination-message-path; the default path is never created"
    )
    func terminationMessage() async throws {
        try await withSidecar { harness in
            var account = harness.defaultAccount
            account.key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc0NA=="
            try harness.writeConfig([account])
            let path = harness.directory.appending(path: "termination-log").path
            let failed = try harness.start(["run", "--once", "--termination-message-path", path])
            #expect(await failed.exitStatus() == 1)
            let message = try String(contentsOfFile: path, encoding: .utf8)
            #expect(message.hasPrefix("mr-token-sidecar: 1 account(s) without a token"))
            #expect(message.contains("anchors: sts: authentication_failed (HTTP 401)"), "\(message)")
            #expect(message.contains("Fix: the STS refused the account key"))
            #expect(message.contains("[MS-CV "))
            #expect(message.utf8.count <= 4096)
            expectNoSecret([account.key!], in: message, "the termination message")
            #expect(failed.standardError.contains(#""mr.hop":"sts""#))

            // A config that does not load says so there too.
            try FileManager.default.removeItem(atPath: harness.configPath)
            try harness.writeConfig([harness.defaultAccount], extra: "refresh:\n  at: 7")
            let broken = try harness.start(["run", "--termination-message-path", path])
            #expect(await broken.exitStatus() == 2)
            #expect(try String(contentsOfFile: path, encoding: .utf8).contains("refresh"))

            // Without the flag, the default path is written only where the kubelet made it.
            let quiet = try harness.start(["run", "--once"])
            #expect(await quiet.exitStatus() == 2)
            #expect(!FileManager.default.fileExists(atPath: "/dev/termination-log"))
        }
    }

    @Test(
        "keyFiles: a 401 on one key moves to the next at once; /status, the metric and a warning say which is live; rotating back works"
    )
    func keyRotation() async throws {
        try await withSidecar(stsLifetime: 4) { harness in
            let right = harness.fixture.identities.accountKey
            let wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc0NA=="
            let primary = harness.directory.appending(path: "primary.key").path
            let secondary = harness.directory.appending(path: "secondary.key").path
            try wrong.write(toFile: primary, atomically: true, encoding: .utf8)
            try right.write(toFile: secondary, atomically: true, encoding: .utf8)
            var account = harness.defaultAccount
            account.key = nil
            account.credential = "type: accountKey\n      keyFiles: [\(primary), \(secondary)]"
            try harness.writeConfig([account], refresh: "  at: 0.5\n  jitter: 0")
            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#))
            #expect(child.standardError.contains("the STS refused the account key; trying the next of keyFiles"))
            #expect(child.standardError.contains("running on an account key other than the first of keyFiles"))
            let port = try #require(await harness.probePort(child))
            let status = try await rawRequest(.GET, "http://127.0.0.1:\(port)/status", caFile: nil).text
            #expect(status.contains(#""accountKeyFile":"\#(secondary)""#), "\(status)")
            let metrics = try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil).text
            #expect(metrics.contains(#"mr_token_account_key_index{account="anchors"} 1"#))

            // The secondary is rotated now: the primary holds the live key again. An exchange may
            // have begun before the swap (a loaded machine is slow here): the second one after it
            // has read the new files for sure.
            try right.write(toFile: primary, atomically: true, encoding: .utf8)
            try wrong.write(toFile: secondary, atomically: true, encoding: .utf8)
            let refreshed = child.standardError.components(separatedBy: #""msg":"token refreshed""#).count - 1
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#, count: refreshed + 2))
            let after = try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil).text
            #expect(after.contains(#"mr_token_account_key_index{account="anchors"} 0"#), "\(after)")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
            expectNoSecrets(child, harness.secrets(extra: [wrong]))
        }
    }

    @Test(
        "outputs: one token in several files and formats, each with its mode; a restart adopts the first and rewrites a missing one without an STS call"
    )
    func severalOutputs() async throws {
        try await withSidecar { harness in
            let json = harness.directory.appending(path: "out/anchors.json").path
            let env = harness.directory.appending(path: "out/anchors.env").path
            var account = harness.defaultAccount
            account.extra = """
                    outputs:
                      - {path: \(json), format: json, mode: "0444"}
                      - {path: \(env), format: env, mode: "0400"}
                """
            try harness.writeConfig([account])
            let once = try harness.start(["run", "--once"])
            #expect(await once.exitStatus() == 0, "\(once.standardError)")
            let token = try #require(harness.read(harness.output("anchors")))
            let jsonText = try #require(harness.read(json))
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(jsonText.utf8)) as? [String: Any])
            // Booleans, not the texts: a failing expectation prints its operands, and these hold tokens.
            let jsonHoldsIt = object["accessToken"] as? String == token
            #expect(jsonHoldsIt, "the json output holds the token")
            let envHoldsIt = harness.read(env)?.contains("MIXED_REALITY_ACCESS_TOKEN='\(token)'") == true
            #expect(envHoldsIt, "the env output holds the token, quoted")
            #expect(try fileMode(json).mode == 0o444)
            #expect(try fileMode(env).mode == 0o400)
            #expect(try fileMode(harness.output("anchors")).mode == 0o440)

            let requests = harness.stsRequests(harness.fixture.identities.accountId).count
            try FileManager.default.removeItem(atPath: json)
            let again = try harness.start(["run", "--once"])
            #expect(await again.exitStatus() == 0)
            #expect(harness.stsRequests(harness.fixture.identities.accountId).count == requests, "adopted, no STS call")
            let rewritten = harness.read(json)?.contains(token) == true
            #expect(rewritten, "the missing output got the adopted token")

            // Two outputs of one account may not share a file.
            try FileManager.default.removeItem(atPath: harness.configPath)
            account.extra = "    outputs:\n      - {path: \(harness.output("anchors"))}"
            try harness.writeConfig([account])
            let clash = try harness.start(["validate"])
            #expect(await clash.exitStatus() == 2)
            #expect(clash.standardError.contains("accounts[0].outputs[0].path: is also another output of this account"))
        }
    }

    @Test(
        "a FIFO at the token path is replaced by the token, a FIFO as the key file is refused by name: neither blocks the sidecar",
        .timeLimit(.minutes(1)))
    func fifosNeverBlock() async throws {
        try await withSidecar { harness in
            // Any container of the pod can create files in the shared volume: a FIFO there,
            // opened for reading, would wait for a writer that never comes.
            try harness.writeConfig([harness.defaultAccount])
            #expect(mkfifo(harness.output("anchors"), 0o600) == 0)
            let once = try harness.start(["run", "--once"])
            #expect(await once.exitStatus() == 0, "\(once.standardError)")
            #expect(
                try FileManager.default.attributesOfItem(atPath: harness.output("anchors"))[.type] as? FileAttributeType
                    == .typeRegular)
            #expect(harness.read(harness.output("anchors"))?.split(separator: ".").count == 3, "a JWT")

            let keyFile = harness.directory.appendingPathComponent("anchors.key").path
            try FileManager.default.removeItem(atPath: keyFile)
            #expect(mkfifo(keyFile, 0o600) == 0)
            try FileManager.default.removeItem(atPath: harness.output("anchors"))
            let refused = try harness.start(["run", "--once"])
            #expect(await refused.exitStatus() == 1)
            #expect(refused.standardError.contains("\(keyFile) is not a regular file"), "\(refused.standardError)")
        }
    }

    @Test(
        "the app's reads: an app that re-reads is seen (metric, /status); one that does not gets one warning after expectReadWithin"
    )
    func readTracking() async throws {
        try await withSidecar(stsLifetime: 4) { harness in
            var eager = harness.defaultAccount
            eager.name = "eager"
            eager.keyName = "anchors"
            var lazy = eager
            lazy.name = "lazy"
            try harness.writeConfig([eager, lazy], refresh: "  at: 0.5\n  jitter: 0")
            // expectReadWithin belongs to the output: put it there.
            var yaml = try String(contentsOfFile: harness.configPath, encoding: .utf8)
            yaml = yaml.replacingOccurrences(of: "mode: \"0440\"", with: "mode: \"0440\"\n      expectReadWithin: 1s")
            try FileManager.default.removeItem(atPath: harness.configPath)
            try yaml.write(toFile: harness.configPath, atomically: true, encoding: .utf8)

            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#, count: 2))
            let stop = harness.directory.appending(path: "stop").path
            // The eager app reads its file every 100 ms, and says so after its first read; the lazy
            // one never reads.
            let reader = try ChildProcess.startSystem(
                "/usr/bin/python3",
                [
                    "-c",
                    "import os, sys, time\nopen(sys.argv[1]).read()\nprint('reading', flush=True)\nwhile not os.path.exists(sys.argv[2]):\n    open(sys.argv[1]).read()\n    time.sleep(0.1)",
                    harness.output("eager"), stop,
                ])
            #expect(await reader.firstStdoutLine() == "reading")
            // A token written before the reader started (slow on a loaded machine) may be warned
            // about for both accounts: only the warnings from here on count.
            let logged = child.standardError.count
            let earlier = child.standardError.components(separatedBy: "has not read the new token in time").count - 1
            // After the next rotation, the lazy account's new token goes unread past its second.
            #expect(
                await child.waitForStandardError(
                    "the application has not read the new token in time", count: earlier + 1))
            let port = try #require(await harness.probePort(child))
            // A rotation may land between the eager app's reads (every 100 ms): its flag is back
            // on its next read, so look a few times, a read apart.
            var metrics = ""
            for _ in 0..<5 {
                metrics = try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil).text
                if metrics.contains(#"mr_token_read_since_write{account="eager"} 1"#) { break }
                try await Task.sleep(for: .milliseconds(150))
            }
            #expect(metrics.contains(#"mr_token_read_since_write{account="eager"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"mr_token_read_since_write{account="lazy"} 0"#))
            #expect(metrics.contains(#"mr_token_last_read_timestamp_seconds{account="eager"}"#))
            var eagerStatus: [String: Any] = [:]
            for _ in 0..<5 {
                let status = try await rawRequest(.GET, "http://127.0.0.1:\(port)/status", caFile: nil).json()
                let accounts = try #require(status["accounts"] as? [[String: Any]])
                eagerStatus = try #require(accounts.first { $0["name"] as? String == "eager" })
                if eagerStatus["readSinceWrite"] as? Bool == true { break }
                try await Task.sleep(for: .milliseconds(150))
            }
            #expect(eagerStatus["readSinceWrite"] as? Bool == true)
            #expect((eagerStatus["secondsSinceRead"] as? Int).map { $0 < 5 } == true)
            let warnings = child.standardError.dropFirst(logged).split(separator: "\n").filter {
                $0.contains("has not read the new token in time")
            }
            #expect(!warnings.isEmpty, "the lazy app is warned about")
            #expect(warnings.allSatisfy { $0.contains(#""mr.account":"lazy""#) }, "only the lazy app is warned about")
            #expect(FileManager.default.createFile(atPath: stop, contents: nil))
            #expect(await reader.exitStatus() == 0)
            // After its warnings the tracker waits for the next deadline; it does not spin (it
            // once did, a core at 100 % for good).
            let before = schedulingCounts(child.pid)
            try await Task.sleep(for: .seconds(2))
            let after = schedulingCounts(child.pid)
            #expect(
                after.cpuTicks - before.cpuTicks < 50,
                "the sidecar used \(after.cpuTicks - before.cpuTicks) ticks in 2 s")
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }

    @Test(
        "idle: once its token is written and its memory trimmed, the sidecar does not wake at all (no libdispatch monitor, no Date-header timer, no config poll)"
    )
    func idleNeverWakes() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount], logLevel: "debug")
            let child = try harness.start()
            #expect(await child.waitForStandardError(#""msg":"token refreshed""#))
            let port = try #require(await harness.probePort(child))
            // A probe, as the kubelet sends them: the server answers and goes back to sleep.
            #expect(try await rawRequest(.GET, "http://127.0.0.1:\(port)/readyz", caFile: nil).status == 200)
            // The last scheduled work: the trimmer, 500 ms after the refresh.
            #expect(await child.waitForStandardError("idle: memory given back"))
            // The trim's thread gone (it exists from the log line on), then a window of five
            // seconds in which nothing is due.
            #expect(await threadGone(child.pid, named: "mr-memory-trim"), "the trim finishes")
            let before = schedulingCounts(child.pid)
            try await Task.sleep(for: .seconds(5))
            let after = schedulingCounts(child.pid)
            // A once-a-second timer shows 5 or more (MR_GLOBAL_EXECUTOR=dispatch: libdispatch's monitor).
            #expect(
                after.switches - before.switches <= 2, "\(after.switches - before.switches) context switches in 5 s")
            #expect(after.cpuTicks - before.cpuTicks <= 1)
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }

    @Test("the read tracker's watches follow the outputs: a reload that moves them removes the old folders' watches")
    func readTrackerWatchesFollowReloads() async throws {
        try await withTemporaryDirectory { directory in
            func accounts(_ folders: [String]) throws -> [AccountConfiguration] {
                var yaml = "accounts:\n"
                for (index, folder) in folders.enumerated() {
                    let path = directory.appending(path: folder).path
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                    yaml += """
                          - name: a\(index)
                            accountId: 6a8b0c3e-1111-4222-8333-94445555000\(index)
                            accountDomain: eastus2.mixedreality.azure.com
                            credential: {type: accountKey, keyFile: /k}
                            output: {path: \(path)/a\(index).token}

                        """
                }
                return try ConfigLoader.parse(yaml, file: "c", environment: [:]).accounts
            }
            let tracker = try #require(
                ReadTracker(
                    board: StatusBoard(), clock: WallTime(ManualClock()),
                    logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })))
            defer { tracker.cancel() }
            /// The inodes the kernel watches for the tracker.
            func watched() throws -> Set<String> {
                let info = try String(contentsOfFile: "/proc/self/fdinfo/\(tracker.descriptor)", encoding: .utf8)
                return Set(
                    info.split(separator: "\n").filter { $0.hasPrefix("inotify wd:") }.compactMap { line in
                        line.split(separator: " ").first { $0.hasPrefix("ino:") }.map(String.init)
                    })
            }
            func inode(_ folder: String) throws -> String {
                let number = try #require(
                    try FileManager.default.attributesOfItem(atPath: directory.appending(path: folder).path)[
                        .systemFileNumber] as? Int)
                return "ino:" + String(number, radix: 16)
            }
            tracker.track(try accounts(["one", "two"]))
            #expect(try watched() == [try inode("one"), try inode("two")])
            for _ in 0..<3 {
                tracker.track(try accounts(["two", "three"]))
                #expect(try watched() == [try inode("two"), try inode("three")], "the watch of one is removed")
                tracker.track(try accounts(["one"]))
                #expect(try watched() == [try inode("one")])
            }
        }
    }
}
