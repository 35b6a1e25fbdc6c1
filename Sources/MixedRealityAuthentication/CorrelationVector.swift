/// `X-MRC-CV` values: 22 characters of the standard base64 alphabet, drawn from the system's
/// cryptographically secure generator (protocol Decisions table).
package enum CorrelationVector {
    package static let length = 22
    package static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

    /// A fresh correlation vector.
    package static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt8(64)))] })
    }
}
