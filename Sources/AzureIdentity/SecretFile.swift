import AzureCore

/// Reads small secret files (Kubernetes Secret and projected token mounts) with errors that name
/// the file and say what to do, never its content.
package enum SecretFile {
    static let maxBytes = 1 << 20

    /// The file's content, trimmed of surrounding white space.
    /// - Parameters:
    ///   - path: The file.
    ///   - what: What it is, for messages ("the key file").
    ///   - credential: The credential reading it, for the error.
    /// - Throws: ``AzureIdentityError`` naming the file and what is wrong with it, never its content.
    package static func read(_ path: String, what: String, credential: String) throws -> String {
        let data: [UInt8]
        switch FileStatus.read(path, maxBytes: maxBytes) {
        case .success(let content): data = content
        case .failure(.missing):
            throw AzureIdentityError.unavailable(
                credential, "\(what) \(path) does not exist: check that the Secret or volume is mounted there",
                isRetriable: true)
        case .failure(.danglingLink(let target)):
            throw AzureIdentityError.unavailable(
                credential,
                "\(what) \(path) is a symbolic link to \(LogText.bounded(target)), which does not exist: check that the Secret or volume is mounted",
                isRetriable: true)
        case .failure(.directory):
            throw AzureIdentityError.unavailable(
                credential, "\(what) \(path) is a directory, not a file: point at the file inside it",
                isRetriable: true)
        case .failure(.notRegular):
            throw AzureIdentityError.unavailable(
                credential, "\(what) \(path) is not a regular file (a FIFO, a device or a socket): point at a file",
                isRetriable: true)
        case .failure(.tooLarge):
            throw AzureIdentityError.unavailable(credential, "\(what) \(path) is larger than 1 MiB", isRetriable: false)
        case .failure(let failure):
            let reason = failure == .permissionDenied ? "permission denied" : "it is not a readable file"
            throw AzureIdentityError.unavailable(
                credential,
                "cannot read \(what) \(path): \(reason); check that the volume is mounted and readable by this user",
                isRetriable: true)
        }
        let text = String(decoding: data, as: UTF8.self).trimmed
        guard !text.isEmpty else {
            throw AzureIdentityError.unavailable(credential, "\(what) \(path) is empty", isRetriable: true)
        }
        return text
    }
}
