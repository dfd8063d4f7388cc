/* A small seeded random generator (xoshiro256**, seeded by splitmix64):
 * reproducible runs from --seed without global state. */
#ifndef GMMC_RNG_H
#define GMMC_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t s[4];
  int have_spare;
  double spare;
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
double rng_uniform(Rng *r);             /* [0, 1) */
uint64_t rng_below(Rng *r, uint64_t n); /* [0, n), unbiased */
double rng_normal(Rng *r);              /* standard normal */

/* Counter-based: a uniform [0, 1) value that depends only on (key, counter),
 * so that a value per event indexed by the event's global index is the same
 * whichever process, or chunk, draws it. */
double rng_at(uint64_t key, uint64_t counter);

#endif
