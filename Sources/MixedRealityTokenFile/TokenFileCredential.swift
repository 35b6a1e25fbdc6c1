public import AzureCore
public import Logging
public import MixedRealityAuthentication
import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Why a token file gave no token.
public struct TokenFileError: AzureError, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No valid token appeared in the file within the wait.
        case noToken = "no_token"
    }

    public var code: Code
    public var message: String
    public var metricLabel: String { code.rawValue }
    public var isRetriable: Bool { true }
    public var retryAfter: Duration? { nil }
    public var cause: (any Error)? { nil }
    public static var metricLabels: [String] { [Code.noToken.rawValue] }
    public var description: String { "\(code.rawValue): \(message)" }
}

/// A ``TokenCredential`` over the file mr-token-sidecar keeps fresh: an application in the pod
/// hands it to a Mixed Reality client instead of a credential of its own.
///
/// - It reads the file in any of the sidecar's formats (`token`, `json`, `env`; by default told
///   apart by content) and takes the expiry from the token itself.
/// - It reads the file again when it changes (inotify on its folder where available; a look at
///   the file's identity at each call otherwise), and when the token it holds is about to expire.
/// - At start it waits for the first token, up to a deadline, instead of failing while the sidecar
///   writes it.
/// - It never returns a token that expires within ``minimumValidity``: it waits for the next one,
///   and fails with ``TokenFileError`` after the deadline.
///
/// The scopes of the request are ignored: the file holds the Mixed Reality token of one account.
/// As a ``MixedRealityTokenSource`` it is passed through by the STS client, never exchanged.
public final class TokenFileCredential: MixedRealityTokenSource, CustomStringConvertible {
    /// The file's format.
    public enum Format: Sendable {
        /// Told apart by content: a JSON object, `MIXED_REALITY_ACCESS_TOKEN=` lines, or the JWT.
        case automatic
        case token, json, env
    }

    /// The file.
    public let path: String
    public let format: Format
    /// How long ``getToken(for:logger:)`` waits for a valid token before failing.
    public let wait: Duration
    /// A token that expires sooner than this is not returned (default one minute).
    public let minimumValidity: Duration

    private struct Cached {
        var token: AccessToken
        var identity: FileStatus.Identity
    }

    private let cached = Mutex<Cached?>(nil)
    private let watcher: FileWatcher?
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - path: The token file, such as `/var/run/mixedreality/token`.
    ///   - format: Its format (default: told apart by content).
    ///   - wait: How long a call waits for a valid token (default 60 s).
    ///   - minimumValidity: The least validity of a token returned (default 60 s).
    public init(
        path: String, format: Format = .automatic, wait: Duration = .seconds(60),
        minimumValidity: Duration = .seconds(60), now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.path = path
        self.format = format
        self.wait = wait
        self.minimumValidity = minimumValidity
        self.now = now
        watcher = FileWatcher(path: path)
    }

    deinit { watcher?.cancel() }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        try await token(logger: logger)
    }

    /// The token in the file, valid for at least ``minimumValidity``.
    /// - Throws: ``TokenFileError`` when none comes within ``wait``.
    public func token(logger: Logger = AzureLogging.disabledLogger) async throws -> AccessToken {
        let deadline = ContinuousClock.now + wait
        var waited = false
        while true {
            if let token = current() { return token }
            guard ContinuousClock.now < deadline else {
                throw TokenFileError(
                    code: .noToken,
                    message:
                        "no token valid for \(Int(minimumValidity.seconds)) s in \(path) after \(Int(wait.seconds)) s: is mr-token-sidecar running? Its /status and logs say why not"
                )
            }
            if !waited {
                logger.info("waiting for the token file", metadata: [LogKeys.path: "\(path)"])
                waited = true
            }
            // Until the file changes (inotify), or a short while where that cannot be watched.
            if let watcher {
                await watcher.nextChange(within: min(deadline - ContinuousClock.now, .seconds(1)))
            } else {
                try? await Task.sleep(for: .milliseconds(100))
            }
            try Task.checkCancellation()
        }
    }

    /// The cached token, or the file's when it changed or the cached one is about to expire; `nil`
    /// when neither is valid long enough.
    private func current() -> AccessToken? {
        let identity = FileStatus.identity(path)
        let now = now()
        let fresh = { (token: AccessToken) in token.expiresOn.timeIntervalSince(now) >= self.minimumValidity.seconds }
        if let cached = cached.withLock({ $0 }), cached.identity == identity, fresh(cached.token) {
            return cached.token
        }
        guard let identity, let token = read(), fresh(token) else { return nil }
        cached.withLock { $0 = Cached(token: token, identity: identity) }
        return token
    }

    /// The file's token and its expiry, or `nil` when it holds none (missing, partial, another
    /// format, not a JWT, not a regular file of at most 1 MiB: a FIFO put there is not waited on).
    func read() -> AccessToken? {
        guard let data = try? FileStatus.read(path, maxBytes: 1 << 20).get() else { return nil }
        guard let token = Self.token(in: String(decoding: data, as: UTF8.self), format: format),
            let expiresOn = try? JWTExpiry.expiry(of: token)
        else { return nil }
        return AccessToken(token: token, expiresOn: expiresOn)
    }

    /// The token in a file's text, in the sidecar's grammar (``TokenFileGrammar``).
    static func token(in text: String, format: Format) -> String? {
        let grammar: TokenFileGrammar.Format =
            switch format {
            case .automatic: TokenFileGrammar.format(of: text)
            case .token: .token
            case .json: .json
            case .env: .env
            }
        return TokenFileGrammar.token(in: text, format: grammar)
    }

    public var description: String { "TokenFileCredential(\(path))" }
}

/// Wakes waiters when something happens in the file's folder (``FolderNotifier``: inotify through
/// a dispatch source, no thread and no timer while nothing changes).
final class FileWatcher: Sendable {
    /// The waiters, apart from the watcher so that the notifier's handler can hold them.
    private final class Waiters: Sendable {
        let pending = Mutex<(next: UInt64, continuations: [UInt64: CheckedContinuation<Void, Never>])>((0, [:]))

        func wakeAll() {
            let woken = pending.withLock { pending in
                defer { pending.continuations.removeAll() }
                return Array(pending.continuations.values)
            }
            for waiter in woken { waiter.resume() }
        }
    }

    private let waiters = Waiters()
    private let notifier: FolderNotifier

    init?(path: String) {
        let folder = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let waiters = waiters
        guard let notifier = FolderNotifier(folders: [folder.isEmpty ? "." : folder], onChange: { waiters.wakeAll() })
        else { return nil }
        self.notifier = notifier
    }

    /// Returns at the next change in the folder, or after `timeout`. A change between the
    /// caller's last look at the file and this call is seen at the timeout at the latest.
    func nextChange(within timeout: Duration) async {
        let timer = Mutex<Task<Void, Never>?>(nil)
        await withCheckedContinuation { continuation in
            let id = waiters.pending.withLock { pending -> UInt64 in
                pending.next += 1
                pending.continuations[pending.next] = continuation
                return pending.next
            }
            // Started once the continuation is registered, so that even a zero timeout resumes it.
            timer.withLock {
                $0 = Task { [waiters] in
                    try? await Task.sleep(for: timeout)
                    waiters.pending.withLock { $0.continuations.removeValue(forKey: id) }?.resume()
                }
            }
        }
        timer.withLock { $0?.cancel() }
    }

    func cancel() {
        notifier.cancel()
        waiters.wakeAll()
    }
}
