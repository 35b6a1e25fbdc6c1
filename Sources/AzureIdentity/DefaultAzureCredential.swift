public import AzureCore
public import Logging
import Synchronization

/// The workload chain of the Azure SDKs' `DefaultAzureCredential`: environment, then workload
/// identity, then managed identity. The first credential that returns a token is used from then
/// on. A credential that is merely unavailable passes to the next; one that was configured and
/// refused stops the chain with its error. When none works, the error lists each credential and
/// why it was unavailable.
///
/// `AZURE_TOKEN_CREDENTIALS` narrows the chain as in the SDKs: `prod` (this chain), or the name of
/// one of its credentials.
public final class DefaultAzureCredential: TokenCredential, CustomStringConvertible {
    static let name = "DefaultAzureCredential"

    /// The credentials tried, in order, with their names.
    public let chain: [(name: String, credential: Result<any TokenCredential, AzureIdentityError>)]
    private let selected = Mutex<Int?>(nil)

    /// Creates the chain.
    /// - Parameters:
    ///   - managedIdentity: The managed identity to use (default: system-assigned, or the
    ///     user-assigned identity named by `AZURE_CLIENT_ID`).
    ///   - options: Authority host, HTTP options and the environment.
    /// - Throws: ``AzureIdentityError`` (`invalidArgument`) for an unknown `AZURE_TOKEN_CREDENTIALS`.
    public init(
        managedIdentity: ManagedIdentityCredential.Identity? = nil, options: TokenCredentialOptions = .init()
    ) throws {
        let environment = options.resolvedEnvironment
        func build(_ make: () throws -> any TokenCredential) -> Result<any TokenCredential, AzureIdentityError> {
            do {
                return .success(try make())
            } catch let error as AzureIdentityError {
                return .failure(error)
            } catch {
                return .failure(.unavailable(Self.name, "\(error)"))
            }
        }
        let all: [(String, Result<any TokenCredential, AzureIdentityError>)] = [
            (EnvironmentCredential.name, .success(EnvironmentCredential(options: options))),
            (WorkloadIdentityCredential.name, build { try WorkloadIdentityCredential(options: options) }),
            (
                ManagedIdentityCredential.name,
                build {
                    let identity =
                        managedIdentity ?? environment["AZURE_CLIENT_ID"].flatMap { $0.isEmpty ? nil : .clientId($0) }
                        ?? .system
                    return try ManagedIdentityCredential(identity: identity, options: options)
                }
            ),
        ]
        switch environment["AZURE_TOKEN_CREDENTIALS"]?.trimmed.lowercased() ?? "" {
        case "", "prod":
            chain = all
        case let name:
            guard let one = all.first(where: { $0.0.lowercased() == name }) else {
                throw AzureIdentityError(
                    .invalidArgument, credential: Self.name,
                    "AZURE_TOKEN_CREDENTIALS \"\(name)\" is not prod or one of \(all.map(\.0).joined(separator: ", "))")
            }
            chain = [one]
        }
    }

    public func getToken(for context: TokenRequestContext, logger: Logger) async throws -> AccessToken {
        if let index = selected.withLock({ $0 }) {
            return try await chain[index].credential.get().getToken(for: context, logger: logger)
        }
        var reasons: [String] = []
        var anyRetriable = false
        for (index, entry) in chain.enumerated() {
            do {
                let token = try await entry.credential.get().getToken(for: context, logger: logger)
                selected.withLock { $0 = index }
                logger.debug(
                    "DefaultAzureCredential selected a credential", metadata: [LogKeys.credential: "\(entry.name)"])
                return token
            } catch let error as AzureIdentityError where error.code == .credentialUnavailable {
                reasons.append("\(entry.name): \(error.message)")
                anyRetriable = anyRetriable || error.isRetriable
            }
        }
        throw AzureIdentityError(
            .credentialUnavailable, credential: Self.name,
            "no credential in the chain could get a token. " + reasons.joined(separator: "; "),
            isRetriable: anyRetriable)
    }

    public var description: String { "DefaultAzureCredential(\(chain.map(\.name).joined(separator: " -> ")))" }
}
