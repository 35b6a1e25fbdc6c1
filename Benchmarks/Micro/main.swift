import AzureCore
import MixedRealityAuthentication
import SidecarConfig
import TokenSidecar

// The in-process micro-benchmarks of the hot paths: JWT expiry parse, a config of 1,000 accounts
// loaded, one atomic write. A plain harness (no dependency): each case runs in batches after a
// warm-up, and the median and 90th percentile of the per-operation time are printed as JSON.
//   mr-micro-benchmarks [--quick]
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

struct Result: Encodable {
    var name: String
    var operationsPerBatch: Int
    var batches: Int
    var medianNanoseconds: Double
    var p90Nanoseconds: Double
}

func measure(_ name: String, operations: Int, batches: Int, _ body: () throws -> Void) rethrows -> Result {
    let clock = ContinuousClock()
    for _ in 0..<max(1, operations / 10) { try body() }
    var perOperation: [Double] = []
    for _ in 0..<batches {
        let elapsed = try clock.measure { for _ in 0..<operations { try body() } }
        let (seconds, attoseconds) = elapsed.components
        perOperation.append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(operations))
    }
    perOperation.sort()
    return Result(
        name: name, operationsPerBatch: operations, batches: batches, medianNanoseconds: perOperation[batches / 2],
        p90Nanoseconds: perOperation[min(batches - 1, batches * 9 / 10)])
}

let quick = CommandLine.arguments.contains("--quick")
let scale = quick ? 10 : 1

func base64URL(_ text: String) -> String {
    Data(text.utf8).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
}

// A token shaped like the STS's: RS256 header, the usual claims, a 256-byte signature.
let header = base64URL(#"{"alg":"RS256","kid":"1","typ":"JWT"}"#)
let payload = base64URL(
    #"{"aid":"6a8b0c3e-1111-4222-8333-944455556666","aud":"6a8b0c3e-1111-4222-8333-944455556666","exp":1800086400,"iat":1800000000,"iss":"https://sts.mixedreality.azure.com/","nbf":1800000000,"sub":"a"}"#
)
let token = header + "." + payload + "." + String(repeating: "s", count: 342)

var yaml = "accounts:\n"
for index in 0..<1000 {
    let hex = String(index, radix: 16)
    let id = String(repeating: "0", count: 8 - hex.count) + hex + "-1111-4222-8333-944455556666"
    yaml += """
          - name: account-\(index)
            accountId: \(id)
            accountDomain: eastus2.mixedreality.azure.com
            credential: {type: accountKey, keyFile: /etc/mr/keys/\(index)}
            output: {path: /var/run/mixedreality/\(index).token, format: json, mode: "0440"}

        """
}

let directory = "/tmp/mr-micro-\(getpid())"
mkdir(directory, 0o700)
defer {
    unlink(directory + "/anchors.token")
    rmdir(directory)
}
let sink = AtomicFileSink()
let bytes = Array(token.utf8)

var results: [Result] = []
results.append(
    try measure("jwt-expiry-parse", operations: 10_000 / scale, batches: 21) { _ = try JWTExpiry.claims(of: token) })
results.append(
    try measure("config-load-1000-accounts", operations: 1, batches: quick ? 5 : 21) {
        _ = try ConfigLoader.parse(yaml, file: "bench.yaml", environment: [:])
    })
results.append(
    try measure("atomic-write", operations: 100 / scale, batches: 21) {
        try sink.write(bytes, to: directory + "/anchors.token", mode: 0o440, owner: nil, group: nil)
    })

print(String(decoding: JSON.encode(results), as: UTF8.self))
