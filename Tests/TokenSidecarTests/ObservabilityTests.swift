import AzureCore
import Foundation
import NIOHTTP1
import STSEmulator
import TestSupport
import Testing
import TokenSidecar

@Suite("What log pipelines and Prometheus get from the running sidecar")
struct ObservabilityTests {
    @Test(
        "every JSON log line of a run with refreshes, a failure and a reload: UTC milliseconds, documented keys with their types, no empty value"
    )
    func logLines() async throws {
        try await withSidecar { harness in
            var broken = harness.defaultAccount
            broken.name = "broken"
            broken.key = "not-the-key"
            try harness.writeConfig([harness.defaultAccount, broken], logLevel: "trace")
            let child = try harness.start(["run"], environment: ["AZURE_LOG_LEVEL": "debug"])
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            #expect(await child.waitForStandardError("token refresh failed"))
            child.signal(SIGHUP)
            #expect(await child.waitForStandardError("configuration reloaded"))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)

            let types = Dictionary(uniqueKeysWithValues: LogKeys.all.map { ($0.key, $0.type) })
            let lines = child.standardError.split(separator: "\n")
            #expect(lines.count > 10)
            var seen: Set<String> = []
            for line in lines {
                guard let object = JSON.decode(JSONValue.self, from: Array(line.utf8))?.object else {
                    Issue.record("not a JSON object: \(line.prefix(200))")
                    continue
                }
                let time = object["time"]?.string ?? ""
                #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(time)")
                for (key, value) in object where !["time", "level", "logger", "msg"].contains(key) {
                    seen.insert(key)
                    switch (types[key], value) {
                    case (.string, .string(let text)): #expect(!text.isEmpty, "\(key) is empty")
                    case (.integer, .number(let number)): #expect(number == number.rounded(), "\(key)")
                    case (.boolean, .bool): break
                    case (nil, _): Issue.record("\(key) is not in LogKeys.all (docs/logging.md)")
                    default: Issue.record("\(key) has the wrong type: \(value)")
                    }
                }
            }
            // The run produced the keys that matter to a log pipeline, typed.
            for key in [
                LogKeys.account, LogKeys.result, LogKeys.durationMs, LogKeys.errorMessage, LogKeys.errorType,
                LogKeys.status, LogKeys.failures, LogKeys.listenAddress, LogKeys.accountsUnchanged, LogKeys.method,
            ] {
                #expect(seen.contains(key), "\(key) never appeared")
            }
            expectNoSecrets(child, harness.secrets(extra: ["not-the-key"]))
        }
    }

    @Test("MR_TOKEN_SIDECAR_LOG_LEVEL and _FORMAT replace the config's log settings; a wrong value is a named error")
    func logLevelVariable() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount], logLevel: "trace")
            let quiet = try harness.start(
                ["run", "--once"],
                environment: ["MR_TOKEN_SIDECAR_LOG_LEVEL": "error", "MR_TOKEN_SIDECAR_LOG_FORMAT": "text"])
            #expect(await quiet.exitStatus() == 0)
            #expect(quiet.standardError.isEmpty, "nothing at error level: \(quiet.standardError)")
            let wrong = try harness.start(["run", "--once"], environment: ["MR_TOKEN_SIDECAR_LOG_LEVEL": "loud"])
            #expect(await wrong.exitStatus() == 2)
            #expect(wrong.standardError.contains("MR_TOKEN_SIDECAR_LOG_LEVEL=\"loud\" is not one of trace, debug"))
        }
    }

    @Test("/metrics: # HELP for every family, the build info, the process's memory and CPU, buckets to 300 s")
    func metrics() async throws {
        try await withSidecar { harness in
            try harness.writeConfig([harness.defaultAccount])
            let child = try harness.start()
            #expect(await child.waitForStandardError("\"msg\":\"token refreshed\""))
            let port = try #require(await harness.probePort(child))
            let text = try await rawRequest(.GET, "http://127.0.0.1:\(port)/metrics", caFile: nil).text
            let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map {
                String($0.split(separator: " ")[2])
            }
            #expect(families.count >= 12, "\(families)")
            for family in families {
                #expect(text.contains("# HELP \(family) "), "\(family) has no HELP")
            }
            // What the chart's alerts and dashboard may name (scripts/check-chart.py reads the
            // same descriptions): each is exported once an account refreshed (the last read once
            // an application opened the file: ObservabilityTests and OperationsTests see it then).
            for name in SidecarMetrics.descriptions.keys where name != "mr_token_last_read_timestamp_seconds" {
                #expect(families.contains(name), "\(name) is described but not exported")
            }
            #expect(
                text.contains(
                    #"mr_token_sidecar_build_info{version="\#(ReleaseVersion.current)",component="sidecar",arch="#))
            let resident = text.split(separator: "\n").first { $0.hasPrefix("process_resident_memory_bytes ") }
            #expect((resident.flatMap { Double($0.split(separator: " ")[1]) } ?? 0) > 1_000_000)
            #expect(text.contains("process_cpu_seconds_total "))
            #expect(text.contains("process_open_fds "))
            #expect(text.contains(#"mr_token_refresh_duration_seconds_bucket{account="anchors",le="300.0"}"#))
            child.signal(SIGTERM)
            #expect(await child.exitStatus() == 0)
        }
    }
}
