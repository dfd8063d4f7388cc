/* The host CPU levels (compiler/host_cpu.h, gmmc_context_set_host_cpu):
 * native and every level this machine runs resolve and compile kernels that
 * run; an unknown name and a level whose features the CPU lacks are refused
 * with a message that names them, through the library and through
 * GMMC_HOST_CPU; a refused change keeps the context's backend working. The
 * feature check is also driven with made-up feature lists, so that the
 * refusal of a level is tested on a machine that runs every level. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/host_cpu.h"
#include "compiler/target.h"
#include "gmmc/gmmc.h"

#include "check.h"

static void lacks(const char *features, const char *level, const char *want) {
  char name[64];
  int got = host_cpu_lacks(features, level, name, sizeof name);
  CHECK(want ? got && strcmp(name, want) == 0 : !got, "lacks(%s, %s) = %s, expected %s", features, level,
        got ? name : "none", want ? want : "none");
}

/* A 4-event fit on the context: its CPU setting works end to end. */
static int fits(gmmc_context *ctx) {
  static const double x[] = {0.1, 1.2, -0.3, 0.9, 2.2, 2.9, 2.4, 3.3, -0.2, 0.7, 2.0, 3.1};
  gmmc_data *d;
  gmmc_fit_options *o;
  gmmc_model *m = NULL;
  if (gmmc_data_wrap(ctx, x, GMMC_FLOAT64, 6, 2, &d)) return 0;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, 2);
  gmmc_fit_options_set_max_iter(o, 3);
  int ok = gmmc_fit(ctx, d, o, &m) == GMMC_OK;
  if (!ok) printf("  fit: %s\n", gmmc_last_error(ctx));
  gmmc_model_destroy(m);
  gmmc_fit_options_destroy(o);
  gmmc_data_destroy(d);
  return ok;
}

int main(void) {
  /* the feature check on made-up lists */
  const char *v2 = "+sse2,+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf,-avx,-avx2";
  lacks(v2, "x86-64", NULL);
  lacks(v2, "x86-64-v2", NULL);
  lacks(v2, "x86-64-v3", "avx");
  lacks("+sse2,+cx16,+popcnt,+sse3,+sse4.1,+sse4.2,+ssse3,+sahf,+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe,"
        "+xsave,+avx512f,-avx512bw",
        "x86-64-v4", "avx512bw");
  lacks("+sse2,+sse4.2", "x86-64-v2", "cx16"); /* the lower levels' features count too */
  lacks("+sse4.1,+sse2", "x86-64", NULL);      /* a feature's name is matched whole */
  lacks("+sse4.2", "x86-64", "sse2");
  lacks("+sse2", "pentium", NULL); /* not a level */

  /* resolution on this machine */
  HostCpu c;
  char *err = NULL;
  CHECK(host_cpu_resolve(NULL, 1, &c, &err) == 0 && *c.name, "native: %s", err ? err : "");
  host_cpu_free(&c);
  CHECK(host_cpu_resolve("bogus-cpu", 1, &c, &err) == 1 && err && strstr(err, "unknown host CPU 'bogus-cpu'"),
        "an unknown name to run: %s", err ? err : "accepted");
  free(err);
  err = NULL;
  CHECK(host_cpu_resolve("skylake", 0, &c, &err) == 0 && strcmp(c.name, "skylake") == 0,
        "a CPU name for emitted code only is passed to LLVM");
  host_cpu_free(&c);

  gmmc_context *ctx;
  unsetenv("GMMC_HOST_CPU");
  if (gmmc_context_create(&ctx, GMMC_BACKEND_HOST)) {
    printf("FAIL context: %s\n", gmmc_last_error(ctx));
    return 1;
  }
  static const char *const levels[] = {"x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4", "native"};
  int ran = 0;
  for (int i = 0; i < 5; i++) {
    gmmc_status s = gmmc_context_set_host_cpu(ctx, levels[i]);
    if (s != GMMC_OK) {
      /* allowed only where this machine lacks the level, and then it says so */
      CHECK(s == GMMC_ERR_INVALID_ARGUMENT &&
                (strstr(gmmc_last_error(ctx), "cannot run") || strstr(gmmc_last_error(ctx), "is for x86-64")),
            "%s refused: %s", levels[i], gmmc_last_error(ctx));
      printf("  %-10s refused here: %s\n", levels[i], gmmc_last_error(ctx));
      continue;
    }
    const char *dev = gmmc_context_device(ctx);
    CHECK(strcmp(levels[i], "native") == 0 || strstr(dev, levels[i]), "%s: device is '%s'", levels[i], dev);
    CHECK(fits(ctx), "a fit at %s", levels[i]);
    printf("  %-10s %s\n", levels[i], dev);
    ran++;
  }
  CHECK(ran >= 2, "native and x86-64 run on every x86-64 machine (%d ran)", ran);

  /* a refused change keeps the backend */
  gmmc_context_set_host_cpu(ctx, "x86-64");
  CHECK(gmmc_context_set_host_cpu(ctx, "x86-64-v9") == GMMC_ERR_INVALID_ARGUMENT &&
            strstr(gmmc_last_error(ctx), "unknown host CPU 'x86-64-v9'"),
        "x86-64-v9: %s", gmmc_last_error(ctx));
  CHECK(strstr(gmmc_context_device(ctx), "x86-64") && fits(ctx), "the backend after a refused change");
  gmmc_context_destroy(ctx);

  /* the environment */
  setenv("GMMC_HOST_CPU", "no-such-cpu", 1);
  gmmc_status s = gmmc_context_create(&ctx, GMMC_BACKEND_HOST);
  CHECK(s == GMMC_ERR_INVALID_ARGUMENT && strstr(gmmc_last_error(ctx), "GMMC_HOST_CPU: unknown host CPU"),
        "GMMC_HOST_CPU=no-such-cpu: %s", gmmc_last_error(ctx));
  gmmc_context_destroy(ctx);
  setenv("GMMC_HOST_CPU", "x86-64", 1);
  s = gmmc_context_create(&ctx, GMMC_BACKEND_HOST);
  CHECK(s == GMMC_OK && strstr(gmmc_context_device(ctx), "x86-64 (on ") && fits(ctx), "GMMC_HOST_CPU=x86-64: %s",
        gmmc_last_error(ctx));
  gmmc_context_destroy(ctx);
  unsetenv("GMMC_HOST_CPU");
  printf(failures ? "test_host_cpu: %d FAILED\n" : "test_host_cpu: all passed\n", failures);
  return failures != 0;
}
