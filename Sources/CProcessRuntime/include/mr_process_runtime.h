#ifndef MR_PROCESS_RUNTIME_H
#define MR_PROCESS_RUNTIME_H

// The process-level choices of the executables that are C: the Swift runtime's global-executor
// hooks, and glibc's allocator. ProcessRuntime (Swift) is their only user; docs/architecture.md
// ("The process runtime") says what each does and how to turn it off.

/// Where the hooks send every job: run `job` (a Swift `UnownedJob`) after `nanoseconds` (0: now).
typedef void (*mr_schedule_job)(void *job, unsigned long long nanoseconds);

/// Sets the Swift concurrency runtime's three global-enqueue hooks (`swift_task_enqueueGlobal_hook`
/// and its delayed and deadline variants, declared here with the runtime's own types and Swift
/// calling convention) to functions that pass each job to `schedule`: a delay as it is, a deadline
/// as the time left until it on the runtime's own clock (`swift_get_time` with the clock id the
/// runtime gave). Set from C: a static binary exports no symbols for `dlsym` to find. Call once,
/// before any task exists. Returns 0 when a hook was already set by someone else (nothing is
/// changed then), 1 otherwise.
int mr_install_executor_hooks(mr_schedule_job schedule);

/// Gives memory back to the system `milliseconds` from now, from a thread of its own, once the
/// caller's threads have gone back to sleep: `malloc_trim(0)` (glibc only), then `MADV_PAGEOUT` on
/// every read-only file mapping (this binary's code and constants, the shared libraries), as listed
/// now.
///
/// Done from Swift on an event loop, the code that runs after the advice (the task's return, the
/// loop's way back to `epoll_wait`) faulted about 2.5 MiB of the binary back in, each fault
/// mapping its neighbours too (the kernel's fault-around, 64 KiB); from here only this thread's
/// exit runs after it. The thread is named `mr-memory-trim` (`/proc/PID/task/*/comm`).
///
/// Returns the bytes of the mappings to be advised, 0 when nothing will be done (no thread, not
/// Linux). MADV_PAGEOUT needs Linux 5.4; before it the advice fails and changes nothing.
long long mr_trim_memory_after(unsigned int milliseconds);

/// Tunes glibc's allocator for a small resident set: blocks of `mmap_threshold` bytes and more are
/// mapped and unmapped on their own (a fixed threshold: glibc otherwise raises it to the largest
/// block freed), and at most `arena_max` arenas. Returns 1 when applied, 0 with another C library
/// (musl has no mallopt).
int mr_tune_allocator(int mmap_threshold, int arena_max);

#endif
