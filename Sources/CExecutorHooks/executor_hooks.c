#include "mr_executor_hooks.h"

#include <stddef.h>

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
