#include "mr_executor_hooks.h"

#include <stddef.h>
#include <time.h>

// Declared by the Swift runtime (include/swift/Runtime/Concurrency.h) as function pointers with
// the Swift calling convention; only their addresses are handled here.
extern const void *swift_task_enqueueGlobal_hook;
extern const void *swift_task_enqueueGlobalWithDelay_hook;
extern const void *swift_task_enqueueGlobalWithDeadline_hook;

int mr_install_executor_hooks(const void *enqueue, const void *enqueueWithDelay, const void *enqueueWithDeadline) {
    if (swift_task_enqueueGlobal_hook != NULL || swift_task_enqueueGlobalWithDelay_hook != NULL
        || swift_task_enqueueGlobalWithDeadline_hook != NULL) {
        return 0;
    }
    // Called once from the main thread before any task exists: no job is in flight.
    swift_task_enqueueGlobalWithDelay_hook = enqueueWithDelay;
    swift_task_enqueueGlobalWithDeadline_hook = enqueueWithDeadline;
    swift_task_enqueueGlobal_hook = enqueue;
    return 1;
}

unsigned long long mr_nanoseconds_until(long long seconds, long long nanoseconds, int clock) {
    struct timespec now;
#if defined(__linux__)
    // The runtime's continuous clock is CLOCK_BOOTTIME on Linux, its suspending clock CLOCK_MONOTONIC.
    clockid_t id = clock == 1 ? CLOCK_BOOTTIME : CLOCK_MONOTONIC;
#elif defined(__APPLE__)
    clockid_t id = clock == 1 ? CLOCK_MONOTONIC_RAW : CLOCK_UPTIME_RAW;
#else
    clockid_t id = CLOCK_MONOTONIC;
#endif
    clock_gettime(id, &now);
    long long delay = (seconds - (long long)now.tv_sec) * 1000000000LL + (nanoseconds - (long long)now.tv_nsec);
    return delay > 0 ? (unsigned long long)delay : 0;
}
