public import AzureCore
import Dispatch
public import Logging
public import MixedRealityAuthentication
import Synchronization

#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
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
        var identity: [Int64]
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
        let identity = Self.identity(path)
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
    /// format, not a JWT).
    func read() -> AccessToken? {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else { return nil }
        guard let token = Self.token(in: String(decoding: data, as: UTF8.self), format: format),
            let expiresOn = try? JWTExpiry.expiry(of: token)
        else { return nil }
        return AccessToken(token: token, expiresOn: expiresOn)
    }

    /// The token in a file's text, in the sidecar's grammar for each format.
    static func token(in text: String, format: Format) -> String? {
        let trimmed = text.trimmed
        let format =
            format != .automatic
            ? format
            : trimmed.hasPrefix("{") ? .json : trimmed.contains("MIXED_REALITY_ACCESS_TOKEN=") ? .env : .token
        let token: String?
        switch format {
        case .json:
            token = JSON.decode(JSONValue.self, from: Array(trimmed.utf8))?["accessToken"]?.string
        case .env:
            token =
                trimmed.split(separator: "\n").first { $0.hasPrefix("MIXED_REALITY_ACCESS_TOKEN=") }.map {
                    unquoted(String($0.dropFirst("MIXED_REALITY_ACCESS_TOKEN=".count)))
                }
        case .token, .automatic:
            token = trimmed
        }
        guard let token, !token.isEmpty, token.split(separator: ".", omittingEmptySubsequences: false).count == 3
        else { return nil }
        return token
    }

    /// A value of the env format: single-quoted for a POSIX shell (`'\''` is a quote), or bare.
    static func unquoted(_ value: String) -> String {
        guard value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 else { return value }
        return String(value.dropFirst().dropLast()).replacing("'\\''", with: "'")
    }

    /// Device, inode, size and modification time: a rename over the file changes them.
    static func identity(_ path: String) -> [Int64]? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return [
            (attributes[.systemNumber] as? Int).map(Int64.init) ?? 0,
            (attributes[.systemFileNumber] as? Int).map(Int64.init) ?? 0,
            (attributes[.size] as? Int).map(Int64.init) ?? 0,
            Int64(((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0) * 1_000_000),
        ]
    }

    public var description: String { "TokenFileCredential(\(path))" }
}

/// Wakes waiters when something happens in the file's folder (inotify, through a dispatch source:
/// no thread and no timer while nothing changes).
///
/// `@unchecked Sendable`: the dispatch source is created here and cancelled in ``cancel()``; its
/// handler touches only the `Mutex`-guarded waiters.
final class FileWatcher: @unchecked Sendable {
    private let source: any DispatchSourceRead
    private let waiters = Mutex<[UInt64: CheckedContinuation<Void, Never>]>([:])
    private let counter = Mutex<UInt64>(0)

    init?(path: String) {
        #if os(Linux)
        let folder = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        let mask = UInt32(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB | IN_MODIFY)
        guard inotify_add_watch(descriptor, folder.isEmpty ? "." : folder, mask) >= 0 else {
            close(descriptor)
            return nil
        }
        source = DispatchSource.makeReadSource(
            fileDescriptor: descriptor, queue: DispatchQueue(label: "mr-token-file.watch"))
        source.setEventHandler { [weak self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
            self?.wakeAll()
        }
        source.setCancelHandler { close(descriptor) }
        source.resume()
        #else
        return nil
        #endif
    }

    /// Returns at the next change in the folder, or after `timeout`. A change between the
    /// caller's last look at the file and this call is seen at the timeout at the latest.
    func nextChange(within timeout: Duration) async {
        let id = counter.withLock { value -> UInt64 in
            value += 1
            return value
        }
        let timer = Mutex<Task<Void, Never>?>(nil)
        await withCheckedContinuation { continuation in
            waiters.withLock { $0[id] = continuation }
            // Started once the continuation is registered, so that even a zero timeout resumes it.
            timer.withLock {
                $0 = Task {
                    try? await Task.sleep(for: timeout)
                    self.waiters.withLock { $0.removeValue(forKey: id) }?.resume()
                }
            }
        }
        timer.withLock { $0?.cancel() }
    }

    func cancel() {
        source.cancel()
        wakeAll()
    }

    private func wakeAll() {
        let woken = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }
}
