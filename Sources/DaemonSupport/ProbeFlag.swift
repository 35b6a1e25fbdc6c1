import Synchronization

/// A yes/no shared between a service and its probes: whether the refresh loops run (the
/// sidecar's `/healthz`), whether `/mutate` is served with a certificate (the webhook's `/readyz`).
package final class ProbeFlag: Sendable {
    private let value = Mutex(false)

    package init() {}

    /// The current value.
    package var isSet: Bool { value.withLock { $0 } }

    /// Sets the value.
    package func set(_ newValue: Bool) { value.withLock { $0 = newValue } }
}
