#ifndef MR_MEMORY_TRIM_H
#define MR_MEMORY_TRIM_H

/// Gives memory back to the system `milliseconds` from now, from a thread of its own, once the
/// caller's threads have gone back to sleep: `malloc_trim(0)`, then `MADV_PAGEOUT` on every
/// read-only file mapping (this binary's code and constants, the shared libraries), as listed now.
///
/// Done from Swift on an event loop, the code that runs after the advice (the task's return, the
/// loop's way back to `epoll_wait`) faulted about 2.5 MiB of the binary back in, each fault
/// mapping its neighbours too (the kernel's fault-around, 64 KiB); from here only this thread's
/// exit runs after it. The thread is named `mr-memory-trim` (`/proc/PID/task/*/comm`).
///
/// Returns the bytes of the mappings to be advised, 0 when nothing will be done (no thread, not
/// Linux). MADV_PAGEOUT needs Linux 5.4; before it the advice fails and changes nothing.
long long mr_trim_memory_after(unsigned int milliseconds);

#endif
