/* gmmc bench SPEC (DATA | --sizes N=..,M=..,D=..): times every code variant
 * of every unit of the specialization on real buffers (after one EM
 * iteration), marks the one `auto` runs — the choice the fit tuned and
 * cached, from measurements of its own — and, where this run's fastest
 * differs, that one; then times whole iterations with the automatic choice
 * and with the simple variants only. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dsl/shipped.h"
#include "runtime/exec/autotune.h"
#include "runtime/exec/compile.h"
#include "runtime/fit/params.h"
#include "runtime/fit/rng.h"

static const char usage[] =
    "usage: gmmc bench SPEC (DATA [-k M] | --sizes N=..,M=..,D=..) [options]\n"
    "\n"
    "Times every code variant of each statement of SPEC (full, diag, spherical,\n"
    "tied, kmeans or a spec file) on DATA or on random events of the given sizes.\n"
    "\n"
    "  -k, --n-components M   components (with DATA)\n"
    "  --sizes LIST           N=events,M=components,D=dimensions (random data)\n"
    "  --iters K              iterations timed per configuration (default 10)\n"
    "  --backend B            auto (default), host or cuda\n"
    "  --dtype T              float32 (default) or float64\n"
    "  --precision P          float32 (default), 3xtf32, tf32 or float64-stats (gmmc fit --help)\n"
    "  --seed S               random seed (default 0)\n";

static float *random_mixture(int64_t n, int64_t d, int m, Rng *rng) {
  float *x = malloc(sizeof(float) * (size_t)(n * d));
  double *c = malloc(sizeof(double) * (size_t)(m * d));
  if (!x || !c) return NULL;
  for (int64_t i = 0; i < m * d; i++) c[i] = 10 * (2 * rng_uniform(rng) - 1);
  for (int64_t i = 0; i < n; i++) {
    int k = (int)rng_below(rng, (uint64_t)m);
    for (int64_t j = 0; j < d; j++) x[i * d + j] = (float)(c[k * d + j] + rng_normal(rng));
  }
  free(c);
  return x;
}

static gmmc_status time_iterations(Exec *e, int iters, double *ms, char **err) {
  gmmc_status s = exec_run(e, SEQ_ITERATE, err); /* warm-up */
  if (!s) s = e->be->ops->synchronize(e->be, err);
  double t0 = monotonic_ms();
  for (int i = 0; i < iters && !s; i++) s = exec_run(e, SEQ_ITERATE, err);
  if (!s) s = e->be->ops->synchronize(e->be, err);
  *ms = (monotonic_ms() - t0) / iters;
  return s;
}

int cmd_bench(int argc, char **argv) {
  static const struct option opts[] = {{"n-components", required_argument, 0, 'k'},
                                       {"sizes", required_argument, 0, 's'},
                                       {"iters", required_argument, 0, 'i'},
                                       {"backend", required_argument, 0, 'b'},
                                       {"dtype", required_argument, 0, 'd'},
                                       {"seed", required_argument, 0, 'S'},
                                       {"precision", required_argument, 0, 'P'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *sizes = NULL, *backend = "auto", *dtype = "float32", *precision = "float32";
  int k = 0, iters = 10, c;
  unsigned long long seed = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
    switch (c) {
    case 'k': k = atoi(optarg); break;
    case 's': sizes = optarg; break;
    case 'i': iters = atoi(optarg); break;
    case 'b': backend = optarg; break;
    case 'd': dtype = optarg; break;
    case 'S': seed = strtoull(optarg, NULL, 10); break;
    case 'P': precision = optarg; break;
    case 'h': fputs(usage, stdout); return 0;
    default: fputs(usage, stderr); return 2;
    }
  }
  int ndata = argc - optind;
  if (ndata < 1 || ndata > 2 || (ndata == 1) == (sizes == NULL) || iters < 1) {
    fputs(usage, stderr);
    return 2;
  }
  gmmc_backend be = strcmp(backend, "host") == 0   ? GMMC_BACKEND_HOST
                    : strcmp(backend, "cuda") == 0 ? GMMC_BACKEND_CUDA
                                                   : GMMC_BACKEND_AUTO;
  gmmc_context *ctx;
  if (gmmc_context_create(&ctx, be)) {
    cli_error("%s", gmmc_last_error(ctx));
    gmmc_context_destroy(ctx);
    return 1;
  }
  int rc = 1;
  gmmc_data *data = NULL;
  float *values = NULL;
  Exec *e = NULL;
  Rng rng;
  rng_seed(&rng, seed);
  if (sizes) {
    long long n = 0, m = 0, d = 0;
    for (const char *p = sizes; *p;) {
      char name = *p;
      if (p[1] != '=') break;
      long long v = strtoll(p + 2, (char **)&p, 10);
      if (name == 'N')
        n = v;
      else if (name == 'M')
        m = v;
      else if (name == 'D')
        d = v;
      if (*p == ',') p++;
    }
    if (n < 1 || m < 1 || d < 1) {
      cli_error("--sizes: expected N=..,M=..,D=.. with positive values, found '%s'", sizes);
      goto done;
    }
    k = (int)m;
    values = random_mixture(n, d, k, &rng);
    if (!values || gmmc_data_wrap(ctx, values, GMMC_FLOAT32, n, d, &data)) {
      cli_error("cannot make %lld x %lld random events", n, d);
      goto done;
    }
  } else if (gmmc_data_load(ctx, argv[optind + 1], 0, &data)) {
    cli_error("%s", gmmc_last_error(ctx));
    goto done;
  }
  if (k < 1) {
    cli_error("give the number of components with -k");
    goto done;
  }
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, k);
  gmmc_fit_options_set_init(o, GMMC_INIT_RANDOM);
  gmmc_fit_options_set_dtype(o, strcmp(dtype, "float64") == 0 ? GMMC_FLOAT64 : GMMC_FLOAT32);
  if (gmmc_fit_options_set_precision(o, precision)) {
    cli_error("--precision: %s", gmmc_fit_options_error(o));
    gmmc_fit_options_destroy(o);
    goto done;
  }
  const ShippedSpec *sh = shipped_spec(argv[optind]);
  char *text = NULL, *err = NULL;
  if (sh) {
    gmmc_fit_options_set_covariance_type(o, argv[optind]);
  } else {
    size_t len;
    if (!(text = read_file(argv[optind], &len, &err))) {
      cli_error("%s", err);
      free(err);
      gmmc_fit_options_destroy(o);
      goto done;
    }
    gmmc_fit_options_set_spec(o, argv[optind], text);
  }
  /* one fit iteration compiles and tunes; then the exec runs again here,
   * with every variant loaded even where choices are cached */
  gmmc_fit_options_set_max_iter(o, 1);
  ctx_set_every_variant(ctx, 1);
  gmmc_model *model = NULL;
  double t0 = monotonic_ms();
  if (gmmc_fit(ctx, data, o, &model)) {
    cli_error("%s", gmmc_last_error(ctx));
    gmmc_fit_options_destroy(o);
    free(text);
    goto done;
  }
  double fit_ms = monotonic_ms() - t0, compile_ms;
  gmmc_context_compile_stats(ctx, NULL, NULL, &compile_ms);
  const Compiled *cp = ctx_last_compiled(ctx);
  if (exec_create(ctx_backend(ctx), cp->p, cp->bp, gmmc_data_rows(data), &e, &err) ||
      exec_bind_data(e, data, 0, &err) || exec_run(e, SEQ_ONCE, &err) || em_load_params(ctx, e, model) ||
      exec_run(e, SEQ_ITERATE, &err)) {
    cli_error("%s", err ? err : gmmc_last_error(ctx));
    free(err);
    gmmc_model_destroy(model);
    gmmc_fit_options_destroy(o);
    free(text);
    goto done;
  }
  printf("gmmc bench: %s, %lld events x %lld dimensions, %d components, %s\n", cp->p->spec->model,
         (long long)gmmc_data_rows(data), (long long)gmmc_data_cols(data), k, gmmc_context_device(ctx));
  printf("compile %.1f ms, first fit (compile, initialisation, tuning, one iteration) %.1f ms\n\n", compile_ms, fit_ms);
  /* what `auto` runs: the choices the fit made and cached (its own
   * measurement), against this one's fastest */
  int applied = 0;
  if (autotune_apply_known(ctx, e, &applied)) {
    cli_error("%s", gmmc_last_error(ctx));
    gmmc_model_destroy(model);
    gmmc_fit_options_destroy(o);
    free(text);
    goto done;
  }
  UnitTiming t[64];
  int nt = 0;
  if (autotune_measure(ctx, e, t, 64, &nt)) {
    cli_error("%s", gmmc_last_error(ctx));
  } else {
    printf("%-28s %-16s %10s\n", "unit", "variant", "ms/run");
    int *autoc = xcalloc((size_t)cp->p->nunits + 1, sizeof(int));
    memcpy(autoc, e->choice, sizeof(int) * (size_t)cp->p->nunits);
    for (int i = 0; i < nt && !applied; i++) autoc[t[i].index] = t[i].chosen; /* no cache: this run's */
    for (int i = 0; i < nt; i++)
      for (int a = 0; a < t[i].nalts; a++) {
        int chosen = a == autoc[t[i].index];
        const char *mark = chosen && a == t[i].chosen ? "  <- auto"
                           : chosen                   ? "  <- auto (cached)"
                           : a == t[i].chosen         ? "  <- fastest here"
                                                      : "";
        if (t[i].ms[a] < 0)
          printf("%-28s %-16s %10s%s\n", a ? "" : t[i].unit, t[i].variant[a], "pruned", mark);
        else
          printf("%-28s %-16s %10.4f%s\n", a ? "" : t[i].unit, t[i].variant[a], t[i].ms[a], mark);
      }
    double simple_ms, auto_ms;
    for (int u = 0; u < cp->p->nunits; u++) e->choice[u] = 0;
    gmmc_status s = time_iterations(e, iters, &simple_ms, &err);
    memcpy(e->choice, autoc, sizeof(int) * (size_t)cp->p->nunits);
    free(autoc);
    if (!s) s = time_iterations(e, iters, &auto_ms, &err);
    if (s)
      cli_error("%s", err);
    else {
      printf("\nEM iteration: %.3f ms with the automatic choice, %.3f ms with the simple variants (%.1fx)\n", auto_ms,
             simple_ms, simple_ms / auto_ms);
      rc = 0;
    }
  }
  gmmc_model_destroy(model);
  gmmc_fit_options_destroy(o);
  free(text);
done:
  exec_destroy(e);
  gmmc_data_destroy(data);
  free(values);
  gmmc_context_destroy(ctx);
  return rc;
}
