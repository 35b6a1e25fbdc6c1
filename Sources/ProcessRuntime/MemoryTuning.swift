import AzureCore
import CProcessRuntime
package import Logging

/// How the daemons ask glibc's allocator to keep their memory small: blocks of 128 KiB and more
/// (request bodies, parse buffers) are mapped and unmapped on their own instead of staying in the
/// heap once freed (glibc otherwise raises that threshold to the largest block it has freed, so a
/// burst of large AdmissionReviews would keep tens of megabytes resident), and at most two
/// arenas. Called once at start; with another C library than glibc it does nothing.
///
/// `MR_MEMORY_TUNING=off` turns it off, with the idle trim (``MemoryTrimmer``): glibc's defaults
/// and its own `MALLOC_*` variables then apply.
package enum MemoryTuning {
    /// The variable that turns the tuning and the idle trim off (`off`).
    package static let variable = "MR_MEMORY_TUNING"

    /// Whether the environment leaves the tuning and the idle trim on (anything but `off`).
    package static func isEnabled(environment: [String: String]) -> Bool {
        environment[variable] != "off"
    }

    /// Applies the tuning; `false` when `MR_MEMORY_TUNING=off` or the C library has no `mallopt`
    /// (musl).
    @discardableResult
    package static func apply(environment: [String: String]) -> Bool {
        guard isEnabled(environment: environment) else { return false }
        return mr_tune_allocator(128 * 1024, 2) == 1
    }

    /// Logs at debug whether the tuning and the idle trim are on.
    package static func logChoice(to logger: Logger, environment: [String: String]) {
        let enabled = isEnabled(environment: environment)
        logger.debug(
            enabled
                ? "glibc's allocator tuned, memory given back when idle"
                : "glibc's allocator defaults, no idle trim (MR_MEMORY_TUNING=off)",
            metadata: [LogKeys.memoryTuning: .boolean(enabled)])
    }
}
