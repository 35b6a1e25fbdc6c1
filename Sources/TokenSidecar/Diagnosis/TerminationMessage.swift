import AzureCore
import DaemonSupport

/// The short, secret-free summary a failed start leaves where `kubectl describe pod` shows it: the
/// container's termination message file.
package enum TerminationMessage {
    /// Where Kubernetes reads it by default (`terminationMessagePath`).
    package static let defaultPath = "/dev/termination-log"
    /// Kubernetes keeps at most 4 KiB of it.
    package static let limit = 4096

    /// The summary of failed accounts: one line each, with the hop, the codes, the MS-CV and the fix.
    package static func failures(_ failures: [(account: String, advice: FailureAdvice, msCV: String?)]) -> String {
        var text = "mr-token-sidecar: \(failures.count) account(s) without a token\n"
        for failure in failures {
            text += "\(failure.account): \(failure.advice.line)"
            if let msCV = failure.msCV { text += " [MS-CV \(msCV)]" }
            text += "\n"
        }
        return text
    }

    /// Writes `text`, cut to ``limit`` bytes on a character boundary, in place (the kubelet
    /// bind-mounts the file, and its folder is not ours: no temporary file, no rename). The default
    /// path is written only when it exists (the kubelet creates it; elsewhere it is not ours to
    /// create); a path given explicitly is created.
    /// - Returns: Whether it was written.
    @discardableResult
    package static func write(_ text: String, to path: String, explicit: Bool) -> Bool {
        var cut = ""
        for character in text {
            if cut.utf8.count + String(character).utf8.count > limit { break }
            cut.append(character)
        }
        return StandardStreams.overwrite(path, with: cut, create: explicit)
    }
}
