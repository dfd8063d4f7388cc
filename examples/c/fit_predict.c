/* Fits a Gaussian mixture through the gmmc C API and labels the events.
 *
 *   fit_predict DATA [N_COMPONENTS]
 *
 * Build against an installed gmmc with CMake: find_package(gmmc) and link
 * gmmc::gmmc (see CMakeLists.txt beside this file). */
#include <gmmc/gmmc.h>
#include <stdio.h>
#include <stdlib.h>

/* Every gmmc call returns a status; the context holds the message. */
#define TRY(call)                                                                                                      \
  do {                                                                                                                 \
    if ((call) != GMMC_OK) {                                                                                           \
      fprintf(stderr, "fit_predict: %s: %s\n", #call, gmmc_last_error(ctx));                                           \
      goto done;                                                                                                       \
    }                                                                                                                  \
  } while (0)

static void progress(void *user, int init, int iter, double lower_bound, double change, double seconds) {
  (void)user;
  (void)init;
  printf("  iteration %3d  lower bound %.6f  change %.3e  (%.2f ms)\n", iter, lower_bound, change, seconds * 1e3);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DATA [N_COMPONENTS]\n", argv[0]);
    return 2;
  }
  int k = argc > 2 ? atoi(argv[2]) : 3;
  int rc = 1;
  gmmc_context *ctx = NULL;
  gmmc_data *data = NULL;
  gmmc_fit_options *opts = NULL;
  gmmc_model *model = NULL;
  int32_t *labels = NULL;

  printf("gmmc %s\n", gmmc_version());
  if (gmmc_context_create(&ctx, GMMC_BACKEND_AUTO) != GMMC_OK) {
    fprintf(stderr, "fit_predict: %s\n", gmmc_last_error(ctx));
    goto done;
  }
  printf("device: %s\n", gmmc_context_device(ctx));
  TRY(gmmc_data_load(ctx, argv[1], 0, &data));

  gmmc_fit_options_create(&opts);
  gmmc_fit_options_set_n_components(opts, k);
  gmmc_fit_options_set_covariance_type(opts, "full");
  gmmc_fit_options_set_seed(opts, 42);
  gmmc_fit_options_set_progress(opts, progress, NULL);
  TRY(gmmc_fit(ctx, data, opts, &model));
  printf("%s after %d iterations, lower bound %.6f\n", gmmc_model_converged(model) ? "converged" : "not converged",
         gmmc_model_n_iter(model), gmmc_model_lower_bound(model));

  int rank;
  const int64_t *shape;
  const double *means = gmmc_model_param(model, "means", &rank, &shape);
  for (int64_t c = 0; c < shape[0]; c++) {
    printf("  component %lld: weight %.3f, mean", (long long)c, gmmc_model_param(model, "weights", NULL, NULL)[c]);
    for (int64_t j = 0; j < shape[1]; j++) printf(" %.3f", means[c * shape[1] + j]);
    printf("\n");
  }

  int64_t n = gmmc_data_rows(data);
  labels = malloc(sizeof(int32_t) * (size_t)n);
  TRY(gmmc_predict(ctx, model, data, labels, n));
  int64_t *sizes = calloc((size_t)k, sizeof(int64_t));
  for (int64_t i = 0; i < n; i++) sizes[labels[i]]++;
  printf("labels:");
  for (int c = 0; c < k; c++) printf(" %lld in component %d%s", (long long)sizes[c], c, c + 1 < k ? "," : "\n");
  free(sizes);
  double bic;
  TRY(gmmc_bic(ctx, model, data, &bic));
  printf("BIC %.3f\n", bic);
  rc = 0;
done:
  free(labels);
  gmmc_model_destroy(model);
  gmmc_fit_options_destroy(opts);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
  return rc;
}
