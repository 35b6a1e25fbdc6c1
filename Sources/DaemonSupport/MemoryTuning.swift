#if canImport(Glibc)
import Glibc
#endif

/// glibc's `mallopt`, which the Glibc module does not export.
@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32

/// How the daemons ask glibc's allocator to keep their memory small: blocks of 128 KiB and more
/// (request bodies, parse buffers) are mapped and unmapped on their own instead of staying in the
/// heap once freed (glibc otherwise raises that threshold to the largest block it has freed, so a
/// burst of large AdmissionReviews would keep tens of megabytes resident), and at most two
/// arenas. Called once at start; elsewhere than glibc it does nothing.
package enum MemoryTuning {
    package static func apply() {
        #if canImport(Glibc)
        _ = mallopt(-3, 128 * 1024)  // M_MMAP_THRESHOLD (fixed: no dynamic raise)
        _ = mallopt(-8, 2)  // M_ARENA_MAX
        #endif
    }
}
