/* gmmc predict MODEL DATA [-o FILE] [--proba]: labels (or responsibilities)
 * of DATA's events; .npy output when FILE ends in .npy, text otherwise.
 * gmmc score MODEL DATA: mean log-likelihood, BIC and AIC. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gmmc/gmmc.h"
#include "runtime/io/data.h"

static int open_all(const char *model_path, const char *data_path, const char *backend, long long raw_dims,
                    gmmc_context **ctx, gmmc_model **m, gmmc_data **d) {
  gmmc_backend be = GMMC_BACKEND_AUTO;
  if (strcmp(backend, "host") == 0)
    be = GMMC_BACKEND_HOST;
  else if (strcmp(backend, "cuda") == 0)
    be = GMMC_BACKEND_CUDA;
  else if (strcmp(backend, "auto") != 0)
    return cli_error("--backend: expected auto, host or cuda, found '%s'", backend);
  if (gmmc_context_create(ctx, be)) return cli_error("%s", gmmc_last_error(*ctx));
  if (gmmc_model_load(*ctx, model_path, m)) return cli_error("%s", gmmc_last_error(*ctx));
  if (gmmc_data_load(*ctx, data_path, raw_dims, d)) return cli_error("%s", gmmc_last_error(*ctx));
  return 0;
}

static const char predict_usage[] = "usage: gmmc predict MODEL DATA [-o FILE] [--proba] [--backend auto|host|cuda]\n"
                                    "\n"
                                    "Writes the component of each event of DATA (one per line, or .npy int32 when\n"
                                    "FILE ends in .npy); with --proba the responsibilities instead (float64).\n";

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cmd_predict(int argc, char **argv) {
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},  {"proba", no_argument, 0, 'p'},
                                       {"backend", required_argument, 0, 'b'}, {"raw-dims", required_argument, 0, 'R'},
                                       {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
  const char *out = NULL, *backend = "auto";
  int proba = 0, c;
  long long raw_dims = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'p': proba = 1; break;
    case 'b': backend = optarg; break;
    case 'R': raw_dims = atoll(optarg); break;
    case 'h': fputs(predict_usage, stdout); return 0;
    default: fputs(predict_usage, stderr); return 2;
    }
  }
  if (optind != argc - 2) {
    fputs(predict_usage, stderr);
    return 2;
  }
  if (out && (cli_same_file(out, argv[optind]) || cli_same_file(out, argv[optind + 1])))
    return cli_error("refusing to overwrite an input file with the output '%s'", out);
  if (out && cli_check_output_dir(out)) return 1;
  gmmc_context *ctx = NULL;
  gmmc_model *m = NULL;
  gmmc_data *d = NULL;
  int rc = open_all(argv[optind], argv[optind + 1], backend, raw_dims, &ctx, &m, &d);
  if (rc) goto done;
  int64_t n = gmmc_data_rows(d);
  int k = gmmc_model_n_components(m);
  char *err = NULL;
  if (proba) {
    double *p = malloc(sizeof(double) * (size_t)(n * k));
    if (gmmc_predict_proba(ctx, m, d, p, n * k))
      rc = cli_error("%s", gmmc_last_error(ctx));
    else if (out && ends_with(out, ".npy")) {
      if (data_write_npy_f64(out, p, n, k, &err)) rc = cli_error("%s", err);
    } else {
      FILE *f = out ? fopen(out, "w") : stdout;
      if (!f) rc = cli_error("cannot write '%s': %s", out, strerror(errno));
      for (int64_t i = 0; f && i < n; i++)
        for (int j = 0; j < k; j++) fprintf(f, "%.9g%c", p[i * k + j], j + 1 < k ? ',' : '\n');
      if (f && f != stdout && fclose(f)) rc = cli_error("cannot write '%s': %s", out, strerror(errno));
    }
    free(p);
  } else {
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (gmmc_predict(ctx, m, d, labels, n))
      rc = cli_error("%s", gmmc_last_error(ctx));
    else if (out && ends_with(out, ".npy")) {
      if (data_write_npy_i32(out, labels, n, &err)) rc = cli_error("%s", err);
    } else {
      FILE *f = out ? fopen(out, "w") : stdout;
      if (!f) rc = cli_error("cannot write '%s': %s", out, strerror(errno));
      for (int64_t i = 0; f && i < n; i++) fprintf(f, "%d\n", labels[i]);
      if (f && f != stdout && fclose(f)) rc = cli_error("cannot write '%s': %s", out, strerror(errno));
    }
    free(labels);
  }
  free(err);
done:
  gmmc_data_destroy(d);
  gmmc_model_destroy(m);
  gmmc_context_destroy(ctx);
  return rc;
}

static const char score_usage[] = "usage: gmmc score MODEL DATA [--backend auto|host|cuda]\n"
                                  "\n"
                                  "Prints the mean log-likelihood of DATA's events under MODEL, with BIC and AIC.\n";

int cmd_score(int argc, char **argv) {
  static const struct option opts[] = {{"backend", required_argument, 0, 'b'},
                                       {"raw-dims", required_argument, 0, 'R'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *backend = "auto";
  long long raw_dims = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'b': backend = optarg; break;
    case 'R': raw_dims = atoll(optarg); break;
    case 'h': fputs(score_usage, stdout); return 0;
    default: fputs(score_usage, stderr); return 2;
    }
  }
  if (optind != argc - 2) {
    fputs(score_usage, stderr);
    return 2;
  }
  gmmc_context *ctx = NULL;
  gmmc_model *m = NULL;
  gmmc_data *d = NULL;
  int rc = open_all(argv[optind], argv[optind + 1], backend, raw_dims, &ctx, &m, &d);
  double score, bic, aic;
  if (!rc && (gmmc_score(ctx, m, d, &score) || gmmc_bic(ctx, m, d, &bic) || gmmc_aic(ctx, m, d, &aic)))
    rc = cli_error("%s", gmmc_last_error(ctx));
  if (!rc) printf("score %.10g\nbic %.10g\naic %.10g\n", score, bic, aic);
  gmmc_data_destroy(d);
  gmmc_model_destroy(m);
  gmmc_context_destroy(ctx);
  return rc;
}
