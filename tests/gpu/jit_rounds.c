/* The same cache hit in a fresh process and in a warm one: R rounds, each a
 * new context (no in-memory programs) fitting one iteration of a random
 * float32 mixture with the kernel cache of the rounds before. Round 1 fills
 * the cache (unless it is warm already); the rounds after it are cache hits,
 * the second one the first in this process to run that path. Prints each
 * round's compile milliseconds (gmmc_context_compile_stats: every program,
 * mixture and k-means); GMMC_PROFILE=1 adds the phases.
 *
 *   jit_rounds N D M [ROUNDS]      (GMMC_CACHE_DIR: the cache to use) */
#include <stdio.h>
#include <stdlib.h>

#include "gmmc/gmmc.h"

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: jit_rounds N D M [ROUNDS]\n");
    return 2;
  }
  long long n = atoll(argv[1]);
  int d = atoi(argv[2]), m = atoi(argv[3]), rounds = argc > 4 ? atoi(argv[4]) : 4;
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  unsigned long long s = 0x9e3779b97f4a7c15ull;
  for (long long i = 0; i < n * d; i++) { /* clustered: a few centres plus noise */
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((s >> 40) % 7) + (float)(s >> 11 & 0xffff) / 65536.0f;
  }
  for (int r = 1; r <= rounds; r++) {
    gmmc_context *ctx;
    if (gmmc_context_create(&ctx, GMMC_BACKEND_CUDA)) {
      fprintf(stderr, "jit_rounds: no CUDA context: %s\n", gmmc_last_error(NULL));
      return 77;
    }
    gmmc_data *data;
    gmmc_fit_options *o;
    gmmc_model *model = NULL;
    gmmc_data_wrap(ctx, x, GMMC_FLOAT32, n, d, &data);
    gmmc_fit_options_create(&o);
    gmmc_fit_options_set_n_components(o, m);
    gmmc_fit_options_set_max_iter(o, 1);
    gmmc_fit_options_set_tol(o, 0);
    gmmc_fit_options_set_dtype(o, GMMC_FLOAT32);
    fprintf(stderr, "--- round %d\n", r);
    if (gmmc_fit(ctx, data, o, &model)) {
      fprintf(stderr, "jit_rounds: %s\n", gmmc_last_error(ctx));
      return 1;
    }
    int compiled, cached;
    double ms;
    gmmc_context_compile_stats(ctx, &compiled, &cached, &ms);
    printf("round %d: %d programs compiled, %d from the cache, %.2f ms\n", r, compiled, cached, ms);
    gmmc_model_destroy(model);
    gmmc_fit_options_destroy(o);
    gmmc_data_destroy(data);
    gmmc_context_destroy(ctx);
  }
  free(x);
  return 0;
}
