import Foundation
package import Testing

/// How hard the reliability suite pushes: reduced counts in the normal test run (CI), the counts
/// of docs/reliability.md with `MR_RELIABILITY=full` (`scripts/reliability.sh`).
package enum Reliability {
    package static let full = ProcessInfo.processInfo.environment["MR_RELIABILITY"] == "full"

    package static func count(ci: Int, full: Int) -> Int { Self.full ? full : ci }

    /// Whether the heavy suites run: they load both cores for a minute (fuzzing, floods, SIGKILL
    /// loops, a 30-day soak), which would disturb the timing of the others beside them, so a plain
    /// `swift test` leaves them out; `scripts/test.sh` runs them after the others with
    /// `MR_HEAVY_TESTS=1`, `scripts/reliability.sh` with their full counts.
    package static let heavy = full || ProcessInfo.processInfo.environment["MR_HEAVY_TESTS"] == "1"

    /// The trait of a heavy suite.
    package static var heavySuite: ConditionTrait {
        .enabled(if: heavy, "a heavy suite: MR_HEAVY_TESTS=1 runs it (scripts/test.sh does, after the others)")
    }

    /// One line of figures, collected by scripts/reliability.sh into docs/reliability.md.
    package static func report(_ name: String, _ figures: KeyValuePairs<String, Any>) {
        let text = figures.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        print("RELIABILITY \(name) [\(full ? "full" : "ci")]: \(text)")
    }
}

/// A seeded mutational fuzzer: inputs are grown from valid seeds by byte flips, insertions of
/// tokens that matter to the parser, deletions and duplications, plus pure noise. Every input must
/// be answered (a value or an error), none may crash, and none may take long (`slowest` is
/// reported; over 2 s fails). Counts: `MR_RELIABILITY=full` runs 1,000,000 inputs in all.
package struct Fuzzer {
    var generator: SeededGenerator
    let seeds: [[UInt8]]
    let dictionary: [[UInt8]]

    package init(seed: UInt64, seeds: [String], dictionary: [String]) {
        generator = SeededGenerator(state: seed)
        self.seeds = seeds.map { Array($0.utf8) }
        self.dictionary = dictionary.map { Array($0.utf8) }
    }

    package mutating func next() -> [UInt8] {
        if Int.random(in: 0..<20, using: &generator) == 0 {
            return (0..<Int.random(in: 0...512, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
        }
        var bytes = seeds.randomElement(using: &generator) ?? []
        for _ in 0..<Int.random(in: 1...6, using: &generator) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<6, using: &generator) {
            case 0 where position < bytes.count:
                bytes[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            case 1:
                bytes.insert(contentsOf: dictionary.randomElement(using: &generator) ?? [], at: position)
            case 2 where position < bytes.count:
                let end = min(bytes.count, position + Int.random(in: 1...32, using: &generator))
                bytes.removeSubrange(position..<end)
            case 3 where position < bytes.count:
                let end = min(bytes.count, position + Int.random(in: 1...64, using: &generator))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 4:
                bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
            default:
                bytes.insert(contentsOf: dictionary.randomElement(using: &generator) ?? [], at: bytes.count)
            }
        }
        return bytes
    }
}

/// Runs `count` inputs through `body`; returns the slowest input's time.
package func fuzz(_ fuzzer: inout Fuzzer, count: Int, _ body: ([UInt8]) -> Void) -> Duration {
    var slowest = Duration.zero
    let clock = ContinuousClock()
    for _ in 0..<count {
        let input = fuzzer.next()
        let elapsed = clock.measure { body(input) }
        if elapsed > slowest { slowest = elapsed }
    }
    return slowest
}

/// A duration in milliseconds.
package func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// Asserts a fuzz run's slowest input and reports its figures.
package func reportFuzz(
    _ name: String, inputs: Int, slowest: Duration, sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
    #expect(slowest < .seconds(2), "\(name): an input took \(slowest)", sourceLocation: sourceLocation)
    Reliability.report("fuzz-\(name)", ["inputs": inputs, "slowestMs": String(format: "%.2f", milliseconds(slowest))])
}
