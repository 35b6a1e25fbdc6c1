import AzureCore

/// What this program says of itself: its name and release (from the VERSION file), in
/// `--version`, the start-up log line, `/status` and its part of `User-Agent`.
enum ProductInfo {
    static let name = "mr-token-sidecar"
    static let version = ReleaseVersion.current
}
