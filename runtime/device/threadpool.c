/* sched_getaffinity, CPU_COUNT */
#define _GNU_SOURCE
#include "threadpool.h"

#include "dsl/util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ThreadPool {
  pthread_t *workers;
  int nworkers;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  /* the job in flight */
  PoolFn fn;
  void *ctx;
  int64_t count, chunk;
  atomic_llong next;   /* next chunk start */
  int active;          /* workers still inside the job */
  unsigned generation; /* bumped for every job */
  int stop;
};

/* Set while this thread runs a job's chunk: a pool_run from inside one (a
 * kernel launched by a task of gmmc_fit_many's) runs on this thread alone. */
static _Thread_local int in_job;

static void run_chunks(ThreadPool *p) {
  in_job = 1;
  for (;;) {
    int64_t lo = atomic_fetch_add(&p->next, p->chunk);
    if (lo >= p->count) break;
    int64_t hi = lo + p->chunk < p->count ? lo + p->chunk : p->count;
    p->fn(p->ctx, lo, hi);
  }
  in_job = 0;
}

static void *worker(void *arg) {
  ThreadPool *p = arg;
  unsigned seen = 0;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
    if (p->stop) break;
    seen = p->generation;
    pthread_mutex_unlock(&p->lock);
    run_chunks(p);
    pthread_mutex_lock(&p->lock);
    if (--p->active == 0) pthread_cond_signal(&p->done);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* The CPUs a cgroup's quota allows (cgroup v2 cpu.max, or v1's
 * cfs_quota_us / cfs_period_us), rounded up; 0 when there is no quota. */
static int cgroup_cpus(void) {
  long long quota = -1, period = 0;
  FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
  if (f) {
    char q[32];
    if (fscanf(f, "%31s %lld", q, &period) == 2 && strcmp(q, "max") != 0) quota = atoll(q);
    fclose(f);
  } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
    if (fscanf(f, "%lld", &quota) != 1) quota = -1;
    fclose(f);
    if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
      if (fscanf(f, "%lld", &period) != 1) period = 0;
      fclose(f);
    }
  }
  if (quota <= 0 || period <= 0) return 0;
  return (int)((quota + period - 1) / period);
}

int pool_cpus(void) {
  /* the affinity mask, not the machine: taskset, cpusets and containers
   * give a process fewer CPUs than are online; a container's CPU quota
   * gives it less time than its CPUs */
  int n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) n = CPU_COUNT(&set);
  if (n == 0) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    n = online > 0 ? (int)online : 1;
  }
  int quota = cgroup_cpus();
  return quota > 0 && quota < n ? quota : n;
}

ThreadPool *pool_create(int threads) {
  if (threads <= 0) threads = pool_cpus();
  ThreadPool *p = xcalloc(1, sizeof *p);
  pthread_t *workers = xcalloc((size_t)threads, sizeof(pthread_t)); /* the caller works too: threads - 1 */
  if (!p || !workers) {
    free(p);
    free(workers);
    return NULL;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done, NULL);
  p->workers = workers;
  /* kernels keep arrays of up to TargetDesc.local_bytes on the stack: the
   * workers get 4 MiB whatever the platform's default */
  pthread_attr_t attr;
  int have_attr = pthread_attr_init(&attr) == 0;
  if (have_attr) pthread_attr_setstacksize(&attr, 4u << 20);
  for (int i = 0; i < threads - 1; i++) {
    if (pthread_create(&p->workers[i], have_attr ? &attr : NULL, worker, p) != 0) break;
    p->nworkers++;
  }
  if (have_attr) pthread_attr_destroy(&attr);
  return p;
}

int pool_threads(const ThreadPool *p) { return p->nworkers + 1; }

void pool_run(ThreadPool *p, int64_t count, int64_t grain, PoolFn fn, void *ctx) {
  if (count <= 0) return;
  int threads = p->nworkers + 1;
  if (grain < 1) grain = 1;
  /* about four chunks per thread balances uneven chunks without much overhead */
  int64_t chunk = (count + 4 * threads - 1) / (4 * threads);
  if (chunk < grain) chunk = grain;
  if (p->nworkers == 0 || chunk >= count || in_job) {
    fn(ctx, 0, count);
    return;
  }
  pthread_mutex_lock(&p->lock);
  p->fn = fn;
  p->ctx = ctx;
  p->count = count;
  p->chunk = chunk;
  atomic_store(&p->next, 0);
  p->active = p->nworkers;
  p->generation++;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  run_chunks(p);
  pthread_mutex_lock(&p->lock);
  while (p->active > 0) pthread_cond_wait(&p->done, &p->lock);
  pthread_mutex_unlock(&p->lock);
}

void pool_destroy(ThreadPool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->nworkers; i++) pthread_join(p->workers[i], NULL);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  free(p->workers);
  free(p);
}
