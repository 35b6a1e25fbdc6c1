/// The project's name and version, used in `User-Agent` and `--version`.
public enum ProjectInfo: Sendable {
    /// The project name.
    public static let name = "mr-token-sidecar"
    /// The release version.
    public static let version = "0.1.0"
}
