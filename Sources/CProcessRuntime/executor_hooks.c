#include "mr_process_runtime.h"

#include <stddef.h>

#define MR_SWIFTCALL __attribute__((swiftcall))

// The Swift runtime's declarations (include/swift/Runtime/ConcurrencyHooks.def and Concurrency.h
// of Swift 6.3): each hook is a pointer to a Swift-calling-convention function that receives the
// original implementation last. `Job` is opaque here. GlobalExecutor installs them only when
// compiled by that release (a compiler-version guard): another release may change them.
typedef MR_SWIFTCALL void (*mr_enqueue_original)(void *job);
typedef MR_SWIFTCALL void (*mr_enqueue_with_delay_original)(unsigned long long delay, void *job);
typedef MR_SWIFTCALL void (*mr_enqueue_with_deadline_original)(
    long long seconds, long long nanoseconds, long long toleranceSeconds, long long toleranceNanoseconds, int clock,
    void *job);

extern void (MR_SWIFTCALL *swift_task_enqueueGlobal_hook)(void *job, mr_enqueue_original original);
extern void (MR_SWIFTCALL *swift_task_enqueueGlobalWithDelay_hook)(
    unsigned long long delay, void *job, mr_enqueue_with_delay_original original);
extern void (MR_SWIFTCALL *swift_task_enqueueGlobalWithDeadline_hook)(
    long long seconds, long long nanoseconds, long long toleranceSeconds, long long toleranceNanoseconds, int clock,
    void *job, mr_enqueue_with_deadline_original original);
// The current time of one of the runtime's clocks, by the runtime's own clock id.
extern MR_SWIFTCALL void swift_get_time(long long *seconds, long long *nanoseconds, int clock);

static mr_schedule_job scheduler;

static MR_SWIFTCALL void enqueue(void *job, mr_enqueue_original original) {
    (void)original;
    scheduler(job, 0);
}

static MR_SWIFTCALL void enqueue_with_delay(unsigned long long delay, void *job, mr_enqueue_with_delay_original original) {
    (void)original;
    scheduler(job, delay);
}

// The tolerance is not used: NIO's timers have none.
static MR_SWIFTCALL void enqueue_with_deadline(
    long long seconds, long long nanoseconds, long long toleranceSeconds, long long toleranceNanoseconds, int clock,
    void *job, mr_enqueue_with_deadline_original original) {
    (void)toleranceSeconds;
    (void)toleranceNanoseconds;
    (void)original;
    long long nowSeconds = 0, nowNanoseconds = 0;
    swift_get_time(&nowSeconds, &nowNanoseconds, clock);
    long long delay = (seconds - nowSeconds) * 1000000000LL + (nanoseconds - nowNanoseconds);
    scheduler(job, delay > 0 ? (unsigned long long)delay : 0);
}

int mr_install_executor_hooks(mr_schedule_job schedule) {
    if (schedule == NULL || swift_task_enqueueGlobal_hook != NULL || swift_task_enqueueGlobalWithDelay_hook != NULL
        || swift_task_enqueueGlobalWithDeadline_hook != NULL) {
        return 0;
    }
    // Called once from the main thread before any task exists: no job is in flight.
    scheduler = schedule;
    swift_task_enqueueGlobalWithDelay_hook = enqueue_with_delay;
    swift_task_enqueueGlobalWithDeadline_hook = enqueue_with_deadline;
    swift_task_enqueueGlobal_hook = enqueue;
    return 1;
}
