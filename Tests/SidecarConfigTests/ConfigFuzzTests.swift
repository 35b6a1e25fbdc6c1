import Foundation
import SidecarConfig
import TestSupport
import Testing

@Suite("Fuzzing the config parser", Reliability.heavySuite)
struct ConfigFuzzTests {
    @Test("The YAML config loader answers every input with a config or a ConfigError")
    func config() throws {
        let seed = """
            accounts:
              - name: anchors
                accountId: 6a8b0c3e-1111-4222-8333-944455556666
                accountDomain: eastus2.mixedreality.azure.com
                credential: {type: accountKey, keyFile: /etc/mr/key}
                output:
                  path: /var/run/mixedreality/anchors.token
                  format: json
                  mode: "0440"
                notify: {httpPost: "http://127.0.0.1:8080/x"}
              - &second
                name: rendering
                accountId: 0b7d9e2a-3c4f-4a5b-8c6d-7e8f90a1b2c3
                accountDomain: westeurope.mixedreality.azure.com
                credential: {type: clientSecret, tenantId: t, clientId: 0f2c6c6e-7a1d-4c1e-9a3f-5c2a3b4d5e6f, secretFile: /s}
                output: {path: /var/run/mixedreality/r.token}
            refresh: {at: 0.5, jitter: 0.1, minBackoff: 1s, maxBackoff: 5m, maxConcurrent: 8}
            server: {address: "0.0.0.0:8787", readyMinValidity: 5m}
            log: {level: info, format: json}
            """
        var fuzzer = Fuzzer(
            seed: 11, seeds: [seed],
            dictionary: [
                ":", ": ", "- ", "{", "}", "[", "]", ",", "&a ", "*a", "*second", "<<: *second\n", "!!binary ",
                "!!int ", "\n",
                "\n  ", "\t", "'", "\"", "#", "%YAML 1.1\n", "---\n", "...\n", "? ", "|\n", ">\n", "~", "null", "0x1F",
                "1e999", "-1", "0440", "440", "99999999999999999999", "1s", "1m30s", "5", "true", "\\u0000", "\u{0}",
                "accounts", "credential", "type", "output", "mode", "refresh", "server", "tls", "caFile", "é", "🦀",
            ])
        let count = Reliability.count(ci: 20_000, full: 300_000)
        let slowest = fuzz(&fuzzer, count: count) { input in
            do {
                _ = try ConfigLoader.parse(String(decoding: input, as: UTF8.self), file: "fuzz.yaml", environment: [:])
            } catch let error as ConfigError {
                #expect(!error.issues.isEmpty)
            } catch {
                Issue.record("not a ConfigError: \(error)")
            }
        }
        reportFuzz("config", inputs: count, slowest: slowest)
    }

    @Test("Alias bombs (billion laughs) are refused quickly, not expanded")
    func aliasBomb() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<12 {
            yaml +=
                "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        yaml += "accounts: *a11\n"
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            #expect(throws: ConfigError.self) { try ConfigLoader.parse(yaml, file: "bomb.yaml", environment: [:]) }
        }
        #expect(elapsed < .seconds(2))
    }
}
