/// Where an account's jitter comes from: the system's generator, or a stream seeded from a seed
/// and the account's name, so that a run on a manual clock (the 30-day soak) is the same run
/// every time it is given the same seed, whatever order the accounts' tasks run in.
package struct JitterSource: RandomNumberGenerator, Sendable {
    /// SplitMix64's state; `nil`: the system's generator.
    private var state: UInt64?

    /// The system's generator.
    package static var system: JitterSource { JitterSource(state: nil) }

    /// A stream of its own for each account: the same seed and name give the same numbers.
    package static func seeded(_ seed: UInt64, account: String) -> JitterSource {
        // FNV-1a of the name, mixed into the seed.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in account.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return JitterSource(state: seed ^ hash)
    }

    package mutating func next() -> UInt64 {
        guard var z = state else {
            var system = SystemRandomNumberGenerator()
            return system.next()
        }
        z &+= 0x9E37_79B9_7F4A_7C15
        state = z
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
