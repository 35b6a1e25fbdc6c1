package import AzureCore
package import Logging
package import MixedRealityAuthentication
package import SidecarConfig
import Synchronization

/// What one exchange gave: the Mixed Reality token with the correlation ids, and for account keys
/// the key file the STS accepted (`/status` and `mr_token_account_key_index` show it).
package struct ExchangedToken: Sendable {
    package var response: MixedRealityTokenResponse
    package var keyFile: KeyFileInUse?

    package init(response: MixedRealityTokenResponse, keyFile: KeyFileInUse? = nil) {
        self.response = response
        self.keyFile = keyFile
    }
}

/// An account key file in use: its path and its position in `keyFiles` (0 the first).
package struct KeyFileInUse: Sendable, Equatable {
    package var index: Int
    package var path: String

    package init(index: Int, path: String) {
        self.index = index
        self.path = path
    }
}

/// Where an account's tokens come from: one call, one Mixed Reality token with the correlation
/// ids of the exchange. The sidecar's is ``StsTokenSource``; tests script their own.
package protocol TokenSource: Sendable {
    /// One exchange.
    /// - Parameter logger: Where the exchange logs (never a secret or a token).
    /// - Throws: An ``AzureError``: the client's, the credential's or the sidecar's.
    func token(logger: Logger) async throws -> ExchangedToken
}

/// Makes each account's token source: the sidecar's exchanges the account's credential
/// (``CredentialFactory``); tests pass scripted ones to ``SidecarApp/build(configuration:configPath:environment:version:logger:levelBox:clock:sink:tokenSources:onActivity:onListening:once:)``.
package protocol TokenSourceFactory: Sendable {
    /// The account's token source.
    /// - Throws: An ``AzureError`` when the account's credential cannot be set up.
    func tokenSource(for account: AccountConfiguration) throws -> any TokenSource
    /// Forgets what it keeps for accounts no longer configured (after a reload).
    func retain(_ accounts: [AccountConfiguration])
}

/// The key-file fallback of account keys, one rule for the refresh loop and `doctor`: the key of
/// each file is tried in turn from `start` (the file the STS accepted last), each file read again
/// first (Kubernetes rotates Secrets in place); a refusal (401) moves to the next file at once when
/// there are several, so that rotating one key never leaves a gap; any other failure ends it.
package enum AccountKeyFallback {
    /// - Parameters:
    ///   - onRefusal: Told of each file whose key the STS refused, before the next is tried.
    /// - Returns: The STS's answer and the file whose key it accepted.
    /// - Throws: What reading a file or the last exchange threw.
    package static func exchange(
        client: MixedRealityStsClient, credential: AzureKeyCredential, files: [String], start: Int, logger: Logger,
        onRefusal: (_ file: String, _ error: MixedRealityAuthenticationError) -> Void = { _, _ in }
    ) async throws -> (MixedRealityTokenResponse, KeyFileInUse) {
        var refusal: (any Error)?
        for step in 0..<files.count {
            let index = (start + step) % files.count
            let file = files[index]
            try credential.update(try CredentialFactory.readKey(file))
            do {
                return (try await client.getTokenResponse(logger: logger), KeyFileInUse(index: index, path: file))
            } catch let error as MixedRealityAuthenticationError where error.httpStatus == 401 && step + 1 < files.count
            {
                onRefusal(file, error)
                refusal = error
            }
        }
        throw refusal ?? SidecarError(.configuration, "no account key file")
    }
}

/// The Mixed Reality STS through ``MixedRealityStsClient``; for account keys, the key files with
/// ``AccountKeyFallback``, starting from the one accepted last.
package final class StsTokenSource: TokenSource {
    let client: MixedRealityStsClient
    let accountKey: (credential: AzureKeyCredential, files: [String])?
    /// The position of the file accepted last.
    private let current = Mutex(0)

    init(client: MixedRealityStsClient, accountKey: (credential: AzureKeyCredential, files: [String])?) {
        self.client = client
        self.accountKey = accountKey
    }

    package func token(logger: Logger) async throws -> ExchangedToken {
        guard let accountKey else { return ExchangedToken(response: try await client.getTokenResponse(logger: logger)) }
        let (response, used) = try await AccountKeyFallback.exchange(
            client: client, credential: accountKey.credential, files: accountKey.files,
            start: current.withLock { $0 }, logger: logger
        ) { file, error in
            logger.warning(
                "the STS refused the account key; trying the next of keyFiles",
                metadata: [LogKeys.path: "\(file)", LogKeys.errorMessage: "\(error.message)"])
        }
        current.withLock { $0 = used.index }
        if used.index > 0 {
            logger.warning(
                "running on an account key other than the first of keyFiles: rotate the first back in",
                metadata: [LogKeys.path: "\(used.path)"])
        }
        return ExchangedToken(response: response, keyFile: used)
    }
}
