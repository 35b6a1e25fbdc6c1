import AzureCore
package import Logging
package import MixedRealityAuthentication
import Synchronization

/// Where an account's tokens come from: one call, one Mixed Reality token with the correlation
/// ids of the exchange. The sidecar's is ``StsTokenSource``; tests script their own.
package protocol TokenSource: Sendable {
    /// One exchange.
    /// - Parameter logger: Where the exchange logs (never a secret or a token).
    /// - Throws: An ``AzureError``: the client's, the credential's or the sidecar's.
    func token(logger: Logger) async throws -> MixedRealityTokenResponse
}

/// The key files of an account (`keyFiles`, or `keyFile` alone) and which one the STS accepts.
package final class AccountKeyFiles: Sendable {
    package let files: [String]
    private let current = Mutex(0)
    /// Told which file is in use after each exchange that succeeded (the status and the metrics).
    let onUse: @Sendable (_ index: Int, _ file: String) -> Void

    package init(files: [String], onUse: @escaping @Sendable (Int, String) -> Void = { _, _ in }) {
        self.files = files
        self.onUse = onUse
    }

    /// The position of the file in use.
    package var index: Int { current.withLock { $0 } }

    func use(_ index: Int) {
        current.withLock { $0 = index }
        onUse(index, files[index])
    }
}

/// The Mixed Reality STS through ``MixedRealityStsClient``; for account keys, the key file is read
/// again before each exchange (Kubernetes rotates Secrets in place), and with several key files
/// (the primary and the secondary) a refusal (401) moves to the next at once, so that rotating one
/// key never leaves a gap.
package struct StsTokenSource: TokenSource {
    let client: MixedRealityStsClient
    let accountKey: (credential: AzureKeyCredential, keys: AccountKeyFiles)?

    package func token(logger: Logger) async throws -> MixedRealityTokenResponse {
        guard let accountKey else { return try await client.getTokenResponse(logger: logger) }
        let keys = accountKey.keys
        let start = keys.index
        var refusal: (any Error)?
        for step in 0..<keys.files.count {
            let index = (start + step) % keys.files.count
            let file = keys.files[index]
            try accountKey.credential.update(try CredentialFactory.readKey(file))
            do {
                let response = try await client.getTokenResponse(logger: logger)
                keys.use(index)
                if index > 0 {
                    logger.warning(
                        "running on an account key other than the first of keyFiles: rotate the first back in",
                        metadata: [LogKeys.path: "\(file)"])
                }
                return response
            } catch let error as MixedRealityAuthenticationError where error.httpStatus == 401 && keys.files.count > 1 {
                logger.warning(
                    "the STS refused the account key; trying the next of keyFiles",
                    metadata: [LogKeys.path: "\(file)", LogKeys.errorMessage: "\(error.message)"])
                refusal = error
            }
        }
        throw refusal ?? SidecarError(.configuration, "no account key file")
    }
}
