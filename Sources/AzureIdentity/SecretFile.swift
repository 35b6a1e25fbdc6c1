import AzureCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
        let data: Data
        do {
            let manager = FileManager.default
            if !manager.fileExists(atPath: path) {
                if let target = try? manager.destinationOfSymbolicLink(atPath: path) {
                    throw AzureIdentityError.unavailable(
                        credential,
                        "\(what) \(path) is a symbolic link to \(target), which does not exist: check that the Secret or volume is mounted",
                        isRetriable: true)
                }
                throw AzureIdentityError.unavailable(
                    credential, "\(what) \(path) does not exist: check that the Secret or volume is mounted there",
                    isRetriable: true)
            }
            let attributes = try manager.attributesOfItem(atPath: URL(filePath: path).resolvingSymlinksInPath().path)
            if (attributes[.type] as? FileAttributeType) == .typeDirectory {
                throw AzureIdentityError.unavailable(
                    credential, "\(what) \(path) is a directory, not a file: point at the file inside it",
                    isRetriable: true)
            }
            if let size = attributes[.size] as? Int, size > maxBytes {
                throw AzureIdentityError.unavailable(
                    credential, "\(what) \(path) is larger than 1 MiB", isRetriable: false)
            }
            data = try Data(contentsOf: URL(filePath: path))
        } catch let error as AzureIdentityError {
            throw error
        } catch {
            throw AzureIdentityError.unavailable(
                credential,
                "cannot read \(what) \(path): \(Self.reason(error)); check that the volume is mounted and readable by this user",
                isRetriable: true)
        }
        let text = String(decoding: data, as: UTF8.self).trimmed
        guard !text.isEmpty else {
            throw AzureIdentityError.unavailable(credential, "\(what) \(path) is empty", isRetriable: true)
        }
        return text
    }

    static func reason(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("No such file") || text.contains("noSuchFile") || text.contains("fileNoSuchFile") {
            return "no such file"
        }
        if text.contains("ermission") { return "permission denied" }
        return "it is not a readable file"
    }
}
