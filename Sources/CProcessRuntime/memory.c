#include "mr_process_runtime.h"

#if defined(__linux__)
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

struct range {
    unsigned long start, end;
};

struct trim {
    unsigned int milliseconds;
    /// Posted once the thread has named itself; the creator's, not to be touched after.
    sem_t *named;
    size_t count;
    struct range ranges[];
};

static void *run(void *argument) {
    struct trim *trim = argument;
    // Named by the thread itself: a detached thread's handle is not the creator's to use once
    // the thread may have ended.
    pthread_setname_np(pthread_self(), "mr-memory-trim");
    sem_post(trim->named);
    trim->named = NULL;
    struct timespec delay = {trim->milliseconds / 1000, (long)(trim->milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0) {
    }
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    for (size_t index = 0; index < trim->count; index++) {
        madvise((void *)trim->ranges[index].start, trim->ranges[index].end - trim->ranges[index].start, MADV_PAGEOUT);
    }
    free(trim);
    return NULL;
}

long long mr_trim_memory_after(unsigned int milliseconds) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (maps == NULL) return 0;
    size_t capacity = 64;
    struct trim *trim = malloc(sizeof(struct trim) + capacity * sizeof(struct range));
    if (trim == NULL) {
        fclose(maps);
        return 0;
    }
    trim->milliseconds = milliseconds;
    trim->count = 0;
    long long total = 0;
    char line[4096];
    while (fgets(line, sizeof line, maps) != NULL) {
        unsigned long start, end;
        char permissions[5];
        int path = 0;
        // start-end perms offset dev inode path: file-backed (a path), readable, not writable.
        if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %n", &start, &end, permissions, &path) < 3) continue;
        if (path == 0 || line[path] != '/' || permissions[0] != 'r' || permissions[1] == 'w' || end <= start) continue;
        if (trim->count == capacity) {
            capacity *= 2;
            struct trim *larger = realloc(trim, sizeof(struct trim) + capacity * sizeof(struct range));
            if (larger == NULL) break;
            trim = larger;
        }
        trim->ranges[trim->count].start = start;
        trim->ranges[trim->count].end = end;
        trim->count += 1;
        total += (long long)(end - start);
    }
    fclose(maps);
    sem_t named;
    pthread_attr_t attributes;
    pthread_t thread;
    if (sem_init(&named, 0, 0) != 0) {
        free(trim);
        return 0;
    }
    trim->named = &named;
    if (pthread_attr_init(&attributes) != 0) {
        sem_destroy(&named);
        free(trim);
        return 0;
    }
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    int started = pthread_create(&thread, &attributes, run, trim) == 0;
    pthread_attr_destroy(&attributes);
    if (!started) {
        sem_destroy(&named);
        free(trim);
        return 0;
    }
    // Returns once the thread has its name: whoever sees this call's effects (the debug log line
    // that follows it) sees the named thread, until it ends.
    while (sem_wait(&named) != 0) {
    }
    sem_destroy(&named);
    return total;
}

#else
long long mr_trim_memory_after(unsigned int milliseconds) {
    (void)milliseconds;
    return 0;
}
#endif

#if defined(__GLIBC__)
int mr_tune_allocator(int mmap_threshold, int arena_max) {
    // M_MMAP_THRESHOLD set by hand turns off glibc's dynamic raise of it.
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_ARENA_MAX, arena_max) == 1;
}
#else
int mr_tune_allocator(int mmap_threshold, int arena_max) {
    (void)mmap_threshold;
    (void)arena_max;
    return 0;
}
#endif
