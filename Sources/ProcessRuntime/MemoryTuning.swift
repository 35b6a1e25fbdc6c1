import CProcessRuntime

/// How the daemons ask glibc's allocator to keep their memory small: blocks of 128 KiB and more
/// (request bodies, parse buffers) are mapped and unmapped on their own instead of staying in the
/// heap once freed (glibc otherwise raises that threshold to the largest block it has freed, so a
/// burst of large AdmissionReviews would keep tens of megabytes resident), and at most two
/// arenas. Called once at start; with another C library than glibc it does nothing.
package enum MemoryTuning {
    /// Applies the tuning; `false` when the C library has no `mallopt` (musl).
    @discardableResult
    package static func apply() -> Bool {
        mr_tune_allocator(128 * 1024, 2) == 1
    }
}
