/* A fixed pool of worker threads for the host backend: a parallel loop over
 * [0, count) split into chunks that the workers and the caller take in turn. */
#ifndef GMMC_THREADPOOL_H
#define GMMC_THREADPOOL_H

#include <stdint.h>

typedef struct ThreadPool ThreadPool;
typedef void (*PoolFn)(void *ctx, int64_t lo, int64_t hi);

/* The CPUs this process may run on (its affinity mask; else those online). */
int pool_cpus(void);
/* threads <= 0: one per pool_cpus(). Returns NULL if no thread could start. */
ThreadPool *pool_create(int threads); /* NULL: out of memory (a thread that cannot start is one fewer) */
int pool_threads(const ThreadPool *p);
/* Runs fn over [0, count) in chunks of at least `grain` items; returns when
 * every chunk is done. Small loops run on the calling thread alone, and so
 * does a pool_run made from inside a chunk (nested: the outer loop already
 * keeps every thread busy). */
void pool_run(ThreadPool *p, int64_t count, int64_t grain, PoolFn fn, void *ctx);
void pool_destroy(ThreadPool *p);

#endif
