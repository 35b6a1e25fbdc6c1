import CVersion

/// The release version, from the VERSION file: the `azsdk-swift-*` part of `User-Agent`, and the
/// version each program stamps on itself (its `--version`, its own part of `User-Agent`, given
/// as ``HTTPPipelineOptions/applicationId``).
package enum ReleaseVersion {
    /// Such as `0.1.0`.
    package static let current = String(cString: mr_version())
}
