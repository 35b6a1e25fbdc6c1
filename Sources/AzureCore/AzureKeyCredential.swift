import Synchronization

/// A shared key (such as a Mixed Reality account key) that can be rotated in place.
///
/// Every request made with the credential reads the current key, so ``update(_:)`` takes effect
/// at once for all clients that hold it. `description` never shows the key.
public final class AzureKeyCredential: Sendable, CustomStringConvertible {
    private let storage: Mutex<String>

    /// Creates a key credential.
    /// - Parameter key: The key; must not be empty.
    /// - Throws: ``AzureCoreError`` with code `invalidArgument` when the key is empty.
    public init(_ key: String) throws {
        try Self.check(key)
        self.storage = Mutex(key)
    }

    /// The current key.
    public var key: String {
        storage.withLock { $0 }
    }

    /// Replaces the key; requests made after this call use the new key.
    /// - Parameter newKey: The new key; must not be empty.
    /// - Throws: ``AzureCoreError`` with code `invalidArgument` when the key is empty.
    public func update(_ newKey: String) throws {
        try Self.check(newKey)
        storage.withLock { $0 = newKey }
    }

    public var description: String { "AzureKeyCredential(<redacted>)" }

    private static func check(_ key: String) throws {
        if key.allSatisfy(\.isWhitespace) {
            throw AzureCoreError(
                .invalidArgument,
                "the account key is empty: give the key exactly as the Azure portal shows it"
            )
        }
    }
}
