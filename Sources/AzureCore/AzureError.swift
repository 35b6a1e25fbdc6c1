/// What every error of this project's modules says of itself, so that a caller (the sidecar, its
/// metrics, its logs) can handle any of them without knowing its type: a stable label for
/// metrics, a message that says what to do, and whether trying again can help.
///
/// Each module has one error type conforming to it (``AzureCoreError``, `AzureIdentityError`,
/// `MixedRealityAuthenticationError`, the sidecar's and the injector's), with an opaque `code`
/// whose raw value is the label. Neither the message nor the description ever holds a secret.
public protocol AzureError: Error, Sendable, CustomStringConvertible {
    /// A short, stable label for metrics and logs, one of ``metricLabels``.
    var metricLabel: String { get }
    /// What failed and what to do about it.
    var message: String { get }
    /// Whether trying again later can succeed.
    var isRetriable: Bool { get }
    /// The wait the server asked for before trying again, if it said.
    var retryAfter: Duration? { get }
    /// The underlying error, if any.
    var cause: (any Error)? { get }
    /// Every label an error of this type can carry (its codes), so that label sets are derived,
    /// never kept by hand.
    static var metricLabels: [String] { get }
}

extension AzureError {
    public var retryAfter: Duration? { nil }
}
