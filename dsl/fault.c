/* Fault injection (fault.h): counters and a record of every call's site,
 * kept with the C library's allocator so that recording cannot recurse. */
#include "fault.h"

#ifdef GMMC_FAULT_INJECTION
#include <pthread.h>
#include <stdlib.h>

typedef struct {
  long calls, nth;
  int fired;
  const char **sites;
  long cap;
} Counter;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Counter counters[FAULT_KINDS];

int fault_hit(FaultKind kind, const char *site) {
  pthread_mutex_lock(&lock);
  Counter *c = &counters[kind];
  if (c->calls == c->cap) {
    long cap = c->cap ? c->cap * 2 : 1024;
    const char **sites = realloc(c->sites, sizeof *sites * (size_t)cap);
    if (sites) {
      c->sites = sites;
      c->cap = cap;
    }
  }
  if (c->calls < c->cap) c->sites[c->calls] = site;
  int hit = ++c->calls == c->nth;
  if (hit) c->fired = 1;
  pthread_mutex_unlock(&lock);
  return hit;
}

void fault_arm(FaultKind kind, long nth) {
  pthread_mutex_lock(&lock);
  counters[kind].calls = 0;
  counters[kind].nth = nth;
  counters[kind].fired = 0;
  pthread_mutex_unlock(&lock);
}

long fault_calls(FaultKind kind) {
  pthread_mutex_lock(&lock);
  long n = counters[kind].calls;
  pthread_mutex_unlock(&lock);
  return n;
}

int fault_fired(FaultKind kind) {
  pthread_mutex_lock(&lock);
  int f = counters[kind].fired;
  pthread_mutex_unlock(&lock);
  return f;
}

const char *fault_site(FaultKind kind, long nth) {
  pthread_mutex_lock(&lock);
  Counter *c = &counters[kind];
  const char *s = nth >= 1 && nth <= c->calls && nth <= c->cap ? c->sites[nth - 1] : NULL;
  pthread_mutex_unlock(&lock);
  return s;
}
#else
typedef int fault_injection_is_off; /* ISO C wants a declaration in every file */
#endif
