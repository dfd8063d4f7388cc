/* gmmc fit DATA --n-components K --covariance-type full|diag|spherical|tied
 *   [--model NAME | --spec FILE] [--tol T] [--reg-covar R] [--max-iter N] [--n-init N]
 *   [--init kmeans|k-means++|random|random_from_data] [--seed S] [-o MODEL]
 *   [--verbose] [--backend auto|host|cuda] [--dtype float32|float64]
 *   [--sample-weight FILE] ...
 *
 * Under mpirun each rank trains on its share of DATA (docs/mpi.md); rank 0
 * alone prints and writes the model. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "dsl/ast.h"
#include "dsl/shipped.h"
#include "gmmc/gmmc.h"

static const char usage[] = "usage: gmmc fit DATA [options]\n"
                            "       gmmc fit --many DIR [-o OUTDIR] [options]\n"
                            "\n"
                            "Trains a mixture model on DATA (.npy float32/float64, .csv, or raw float32 with\n"
                            "--raw-dims; integer and boolean .npy for the models of counts and binary data)\n"
                            "with EM, as scikit-learn's GaussianMixture.fit does.\n"
                            "\n"
                            "  -k, --n-components K    number of components (default 1)\n"
                            "  --covariance-type T     full (default), diag, spherical or tied\n"
                            "  --model NAME            a shipped model: gmm_full, gmm_diag, gmm_spherical,\n"
                            "                          gmm_tied, kmeans, bernoulli, poisson, multinomial,\n"
                            "                          bayesian_full, bayesian_diag, bayesian_spherical or\n"
                            "                          bayesian_tied\n"
                            "  --spec FILE             train the model written in FILE (a gmmc DSL spec)\n"
                            "  --tol T                 stop when the lower bound changes less (default 1e-3)\n"
                            "  --reg-covar R           added to the covariance diagonals (default 1e-6)\n"
                            "  --max-iter N            EM iterations per initialisation (default 100)\n"
                            "  --n-init N              initialisations; the best is kept (default 1)\n"
                            "  --init M                kmeans (default), k-means++, random, random_from_data\n"
                            "  --seed S                random seed (default 0)\n"
                            "  --set NAME=VALUE        a run-time scalar of the spec\n"
                            "  -o, --output MODEL      write the model (YAML) to MODEL\n"
                            "  -v, --verbose           one line per EM iteration\n"
                            "  --backend B             auto (default: the GPU if there is one), host or cuda\n"
                            "  --dtype T               float32 or float64 (default: the data's on the host,\n"
                            "                          float32 on the GPU)\n"
                            "  --precision P           float32 (default; the FFMA kernels), 3xtf32 (also the\n"
                            "                          3xTF32 tensor-core ones: float32-accurate where the\n"
                            "                          covariances are well-conditioned), tf32 (one TF32\n"
                            "                          product: faster, 10-bit mantissas; docs/limits.md) or\n"
                            "                          float64-stats (float32 data,\n"
                            "                          sums over events of float64 terms: what a float32 fit\n"
                            "                          whose covariance fails to factor is redone with)\n"
                            "  --threads N             host worker threads (default: one per CPU)\n"
                            "  --raw-dims D            DATA is raw float32 with D values per event\n"
                            "  --chunk-events N        stream the events through the device N at a time\n"
                            "                          (default: $GMMC_CHUNK_EVENTS, else what fits)\n"
                            "  --no-cache              do not use the on-disk kernel cache\n"
                            "  --sample-weight FILE    one weight per row of DATA (.npy of shape (N,) or (N, 1),\n"
                            "                          or a one-column .csv): a row of weight k counts k times\n"
                            "  --many DIR              train a model on each .npy file of DIR (name order), all\n"
                            "                          in one gmmc_fit_many call with these options, and write\n"
                            "                          OUTDIR/NAME.yaml per file (OUTDIR: -o, default DIR)\n"
                            "\n"
                            "Under MPI (`mpirun -np R gmmc fit DATA ...`) every rank trains on its share of\n"
                            "DATA, on the GPU of its local rank; see docs/mpi.md.\n";

static int parse_init(const char *s, gmmc_init *out) {
  static const struct {
    const char *name;
    gmmc_init v;
  } t[] = {{"kmeans", GMMC_INIT_KMEANS},
           {"k-means++", GMMC_INIT_KMEANS_PLUSPLUS},
           {"random", GMMC_INIT_RANDOM},
           {"random_from_data", GMMC_INIT_RANDOM_FROM_DATA}};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++)
    if (strcmp(s, t[i].name) == 0) {
      *out = t[i].v;
      return 0;
    }
  return -1;
}

/* What the reported lower bound is: the spec's lower_bound output as it
 * is (a variational bound), or the objective per event. text NULL: a
 * Gaussian spec by covariance type, which has none. */
static int has_lower_bound_output(const char *name, const char *text, size_t len) {
  if (!text) return 0;
  char *err = NULL;
  Spec *s = spec_load(name, text, len, &err);
  int has = s && s->lower_bound;
  spec_free(s);
  free(err);
  return has;
}

/* --model NAME: a shipped spec by its model name, or NULL after the error
 * listing the names there are */
static const ShippedSpec *find_model(const char *name) {
  for (int i = 0; i < shipped_spec_count; i++)
    if (strcmp(shipped_specs[i].name, name) == 0) return &shipped_specs[i];
  char list[512] = "";
  for (int i = 0; i < shipped_spec_count; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", shipped_specs[i].name);
  cli_error("--model: unknown model '%s' (the shipped models are %s; --spec FILE trains a spec of your own)", name,
            list);
  return NULL;
}

static void on_progress(void *user, int init, int iter, double lb, double change, double seconds) {
  (void)user;
  if (iter == 1) printf("init %d\n  %5s  %18s  %12s  %9s\n", init, "iter", "lower bound", "change", "time");
  printf("  %5d  %18.10f  %12.4e  %8.3fms\n", iter, lb, iter == 1 ? NAN : change, seconds * 1e3);
  fflush(stdout);
}

static void on_warning(void *user, const char *msg) {
  (void)user;
  fprintf(stderr, "gmmc: warning: %s\n", msg);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int cmd_fit(int argc, char **argv) {
  static const struct option opts[] = {
      {"n-components", required_argument, 0, 'k'},
      {"covariance-type", required_argument, 0, 'c'},
      {"spec", required_argument, 0, 'S'},
      {"tol", required_argument, 0, 't'},
      {"reg-covar", required_argument, 0, 'r'},
      {"max-iter", required_argument, 0, 'm'},
      {"n-init", required_argument, 0, 'n'},
      {"init", required_argument, 0, 'i'},
      {"seed", required_argument, 0, 's'},
      {"set", required_argument, 0, 'x'},
      {"output", required_argument, 0, 'o'},
      {"verbose", no_argument, 0, 'v'},
      {"backend", required_argument, 0, 'b'},
      {"dtype", required_argument, 0, 'd'},
      {"threads", required_argument, 0, 'T'},
      {"raw-dims", required_argument, 0, 'R'},
      {"no-cache", no_argument, 0, 'N'},
      {"help", no_argument, 0, 'h'},
      {"chunk-events", required_argument, 0, 'C'},
      {"sample-weight", required_argument, 0, 'W'},
      {"model", required_argument, 0, 'M'},
      {"precision", required_argument, 0, 'P'},
      {"many", required_argument, 0, 'Y'}, /* a directory of fits (fit_many.c) */
      {0, 0, 0, 0},
  };
  gmmc_fit_options *fo;
  gmmc_fit_options_create(&fo);
  const char *out = NULL, *spec_path = NULL, *backend = "auto", *dtype = NULL, *weight_path = NULL, *model_name = NULL,
             *cov_type = NULL, *many_dir = NULL;
  int verbose = 0, threads = 0, no_cache = 0, own_bound = 0, c, rc = 1;
  int mpi = cli_mpi_begin(), me = 0; /* before any output: rank 0 alone speaks */
  long long raw_dims = 0;
  char *end;
  optind = 1;
#define NUM(parse, what)                                                                                               \
  do {                                                                                                                 \
    errno = 0;                                                                                                         \
    parse;                                                                                                             \
    if (*end || end == optarg) {                                                                                       \
      cli_error("--%s: '%s' is not a valid number", what, optarg);                                                     \
      goto done;                                                                                                       \
    }                                                                                                                  \
  } while (0)
#define SET(call)                                                                                                      \
  do {                                                                                                                 \
    if (call) {                                                                                                        \
      cli_error("%s", gmmc_fit_options_error(fo));                                                                     \
      goto done;                                                                                                       \
    }                                                                                                                  \
  } while (0)
  while ((c = getopt_long(argc, argv, "k:o:vh", opts, NULL)) != -1) {
    long v;
    double d;
    unsigned long long u;
    switch (c) {
    case 'k':
      NUM(v = strtol(optarg, &end, 10), "n-components");
      SET(gmmc_fit_options_set_n_components(fo, (int)v));
      break;
    case 'c':
      cov_type = optarg;
      SET(gmmc_fit_options_set_covariance_type(fo, optarg));
      break;
    case 'M': model_name = optarg; break;
    case 'S': spec_path = optarg; break;
    case 't':
      NUM(d = strtod(optarg, &end), "tol");
      SET(gmmc_fit_options_set_tol(fo, d));
      break;
    case 'r':
      NUM(d = strtod(optarg, &end), "reg-covar");
      SET(gmmc_fit_options_set_reg_covar(fo, d));
      break;
    case 'm':
      NUM(v = strtol(optarg, &end, 10), "max-iter");
      SET(gmmc_fit_options_set_max_iter(fo, (int)v));
      break;
    case 'n':
      NUM(v = strtol(optarg, &end, 10), "n-init");
      SET(gmmc_fit_options_set_n_init(fo, (int)v));
      break;
    case 'i': {
      gmmc_init init;
      if (parse_init(optarg, &init)) {
        cli_error("--init: expected kmeans, k-means++, random or random_from_data, found '%s'", optarg);
        goto done;
      }
      SET(gmmc_fit_options_set_init(fo, init));
      break;
    }
    case 's':
      NUM(u = strtoull(optarg, &end, 10), "seed");
      SET(gmmc_fit_options_set_seed(fo, u));
      break;
    case 'x': {
      char *eq = strchr(optarg, '=');
      if (!eq) {
        cli_error("--set: expected NAME=VALUE, found '%s'", optarg);
        goto done;
      }
      *eq = 0;
      char *vs = eq + 1;
      d = strtod(vs, &end);
      if (*end || end == vs) {
        cli_error("--set %s: '%s' is not a number", optarg, vs);
        goto done;
      }
      SET(gmmc_fit_options_set_scalar(fo, optarg, d));
      break;
    }
    case 'o': out = optarg; break;
    case 'v': verbose = 1; break;
    case 'b': backend = optarg; break;
    case 'd': dtype = optarg; break;
    case 'P': SET(gmmc_fit_options_set_precision(fo, optarg)); break;
    case 'T':
      NUM(v = strtol(optarg, &end, 10), "threads");
      threads = (int)v;
      break;
    case 'R': NUM(raw_dims = strtoll(optarg, &end, 10), "raw-dims"); break;
    case 'N': no_cache = 1; break;
    case 'W': weight_path = optarg; break;
    case 'Y': many_dir = optarg; break;
    case 'C': {
      long long n;
      NUM(n = strtoll(optarg, &end, 10), "chunk-events");
      SET(gmmc_fit_options_set_chunk_events(fo, (int64_t)n));
      break;
    }
    case 'h':
      fputs(usage, stdout);
      rc = 0;
      goto done;
    default:
      fputs(usage, stderr);
      rc = 2;
      goto done;
    }
  }
  if (optind != argc - (many_dir ? 0 : 1)) {
    if (many_dir && optind < argc)
      cli_error("--many %s trains the files of the directory: no DATA argument ('%s')", many_dir, argv[optind]);
    fputs(usage, stderr);
    rc = 2;
    goto done;
  }
  /* one way of naming the model */
  if (model_name && spec_path) {
    cli_error("--model %s and --spec %s both name the model to train: give one", model_name, spec_path);
    goto done;
  }
  if (model_name && cov_type) {
    cli_error("--model %s and --covariance-type %s both name the model to train: give one (--covariance-type T is "
              "--model gmm_T)",
              model_name, cov_type);
    goto done;
  }
  if (model_name) {
    const ShippedSpec *sh = find_model(model_name);
    if (!sh) goto done;
    own_bound = has_lower_bound_output(sh->file, sh->text, sh->len);
    SET(gmmc_fit_options_set_covariance_type(fo, sh->name)); /* the options take a shipped spec's name there */
  }
  if (many_dir && (weight_path || raw_dims || mpi)) {
    cli_error("--many: not with %s", weight_path ? "--sample-weight (one file of weights for many data files)"
                                     : raw_dims  ? "--raw-dims (the directory's .npy files say their shapes)"
                                                 : "MPI (each process would train every file)");
    goto done;
  }
  const char *data_path = many_dir ? many_dir : argv[optind];
  if (many_dir) {
    /* -o names a directory: checked by cli_fit_many */
  } else if (out && cli_same_file(out, data_path)) {
    cli_error("refusing to overwrite the input '%s' with the model", data_path);
    goto done;
  }
  if (out && spec_path && cli_same_file(out, spec_path)) {
    cli_error("refusing to overwrite the spec '%s' with the model", spec_path);
    goto done;
  }
  if (out && !many_dir && cli_check_output_dir(out)) goto done;
  if (dtype) {
    if (strcmp(dtype, "float32") == 0)
      gmmc_fit_options_set_dtype(fo, GMMC_FLOAT32);
    else if (strcmp(dtype, "float64") == 0)
      gmmc_fit_options_set_dtype(fo, GMMC_FLOAT64);
    else {
      cli_error("--dtype: expected float32 or float64, found '%s'", dtype);
      goto done;
    }
  }
  if (spec_path) {
    size_t len;
    char *err = NULL;
    char *text = read_file(spec_path, &len, &err);
    if (!text) {
      cli_error("%s", err);
      free(err);
      goto done;
    }
    gmmc_fit_options_set_spec(fo, spec_path, text);
    own_bound = has_lower_bound_output(spec_path, text, len);
    free(text);
  }
  gmmc_backend be;
  if (strcmp(backend, "auto") == 0)
    be = GMMC_BACKEND_AUTO;
  else if (strcmp(backend, "host") == 0)
    be = GMMC_BACKEND_HOST;
  else if (strcmp(backend, "cuda") == 0)
    be = GMMC_BACKEND_CUDA;
  else {
    cli_error("--backend: expected auto, host or cuda, found '%s'", backend);
    goto done;
  }
  gmmc_context *ctx;
  /* with MPI every failure below is agreed: all ranks have the same message, rank 0 prints it */
  if (cli_context_create(mpi, &ctx, be)) {
    if (cli_rank(mpi, ctx) == 0) cli_error("%s", gmmc_last_error(ctx));
    gmmc_context_destroy(ctx);
    goto done;
  }
  me = cli_rank(mpi, ctx);
  const char *note = gmmc_context_note(ctx);
  if (note && me == 0) fprintf(stderr, "gmmc: %s; training on the host backend\n", note);
  if (me == 0) gmmc_context_set_warning_handler(ctx, on_warning, NULL);
  if (threads) gmmc_context_set_threads(ctx, threads);
  if (no_cache) gmmc_context_set_cache_dir(ctx, NULL);
  if (verbose && me == 0) gmmc_fit_options_set_progress(fo, on_progress, NULL);
  gmmc_data *data = NULL;
  gmmc_model *model = NULL;
  if (many_dir) {
    rc = cli_fit_many(ctx, many_dir, out ? out : many_dir, fo);
    goto done_ctx;
  }
  double t0 = now_s();
  if (cli_data_load(mpi, ctx, data_path, raw_dims, &data)) {
    if (me == 0) cli_error("%s", gmmc_last_error(ctx));
    goto done_ctx;
  }
  /* every rank agrees before the fit's collective steps */
  if (weight_path && cli_agree_rc(mpi, cli_set_sample_weight(mpi, ctx, weight_path, data, fo))) goto done_ctx;
  double t1 = now_s();
  if (gmmc_fit(ctx, data, fo, &model)) {
    if (me == 0) cli_error("%s", gmmc_last_error(ctx));
    goto done_ctx;
  }
  double t2 = now_s();
  int64_t events = cli_total_rows(mpi, data);
  int ranks = cli_ranks(mpi, ctx);
  if (me != 0) {
    rc = 0;
    goto done_ctx;
  }
  printf("gmmc fit: %lld events x %lld features, %s with %d components, %s", (long long)events,
         (long long)gmmc_data_cols(data), gmmc_model_spec_name(model), gmmc_model_n_components(model),
         gmmc_context_device(ctx));
  if (ranks > 1) printf(" (rank 0 of %d MPI processes)", ranks);
  printf("\n");
  if (own_bound)
    printf("%s after %d iterations; lower bound %.10g (the spec's lower_bound output)\n",
           gmmc_model_converged(model) ? "converged" : "did not converge", gmmc_model_n_iter(model),
           gmmc_model_lower_bound(model));
  else
    printf("%s after %d iterations; lower bound %.10g (mean log-likelihood per %s)\n",
           gmmc_model_converged(model) ? "converged" : "did not converge", gmmc_model_n_iter(model),
           gmmc_model_lower_bound(model), weight_path ? "unit of weight" : "event");
  int rank;
  const int64_t *shape;
  const double *w = gmmc_model_param(model, "weights", &rank, &shape);
  if (w && rank == 1) {
    printf("weights:");
    for (int64_t i = 0; i < shape[0] && i < 16; i++) printf(" %.4f", w[i]);
    printf(shape[0] > 16 ? " ...\n" : "\n");
  }
  int compiled, cached;
  double compile_ms;
  gmmc_context_compile_stats(ctx, &compiled, &cached, &compile_ms);
  printf("time: read %.1f ms, fit %.1f ms, of which compile %.1f ms (%d specializations compiled, %d from the cache)\n",
         (t1 - t0) * 1e3, (t2 - t1) * 1e3, compile_ms, compiled, cached);
  if (out) {
    if (gmmc_model_save(ctx, model, out)) {
      cli_error("%s", gmmc_last_error(ctx));
      goto done_ctx;
    }
    printf("model written to %s\n", out);
  }
  rc = 0;
done_ctx:
  rc = cli_agree_rc(mpi, rc); /* rank 0 writes the model: all ranks fail if that does */
  gmmc_model_destroy(model);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
done:
  gmmc_fit_options_destroy(fo);
  cli_mpi_end(mpi);
  return rc;
}
