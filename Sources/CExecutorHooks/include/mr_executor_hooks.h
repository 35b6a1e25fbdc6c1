#ifndef MR_EXECUTOR_HOOKS_H
#define MR_EXECUTOR_HOOKS_H

/// Sets the Swift concurrency runtime's global-executor hooks (`swift_task_enqueueGlobal_hook` and
/// its delayed and deadline variants) to these Swift functions (thin function pointers). A C
/// reference links them in a static binary whose symbols are not exported (dlsym cannot find them).
/// Returns 0 when a hook was already set by someone else (nothing is changed then), 1 otherwise.
int mr_install_executor_hooks(const void *enqueue, const void *enqueueWithDelay, const void *enqueueWithDeadline);

/// Nanoseconds from now until a deadline of the Swift runtime's clocks (1: continuous, 2:
/// suspending), 0 when it has passed.
unsigned long long mr_nanoseconds_until(long long seconds, long long nanoseconds, int clock);

#endif
