/* gmmc fit --sample-weight FILE: one weight per row of DATA, from .npy
 * (float32 or float64, shape (N,) or (N, 1)) or .csv (one column), checked
 * with positioned messages before they reach the fit options. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

int cli_set_sample_weight(int mpi, gmmc_context *ctx, const char *path, const gmmc_data *data, gmmc_fit_options *fo) {
  if (!has_suffix(path, ".npy") && !has_suffix(path, ".csv"))
    return cli_error("--sample-weight %s: expected a .npy or .csv file", path);
  gmmc_data *w = NULL;
  /* under MPI each rank reads the rows of its share of DATA */
  if (cli_data_load(mpi, ctx, path, 0, &w)) {
    cli_error("--sample-weight: %s", gmmc_last_error(ctx));
    gmmc_data_destroy(w);
    return 1;
  }
  int64_t n = gmmc_data_rows(w), cols = gmmc_data_cols(w), rows = gmmc_data_rows(data);
  int rc = 0;
  if (cols != 1)
    rc = cli_error("--sample-weight %s: expected one weight per row, shape (N,) or (N, 1), found %lld columns", path,
                   (long long)cols);
  else if (n != rows)
    rc = cli_error("--sample-weight %s: %lld weights for the %lld rows of the data: one weight per row", path,
                   (long long)n, (long long)rows);
  double *v = rc ? NULL : malloc(sizeof(double) * (size_t)(n ? n : 1));
  if (!rc && !v) rc = cli_error("--sample-weight %s: out of memory for %lld weights", path, (long long)n);
  const void *raw = gmmc_data_values(w);
  for (int64_t i = 0; v && i < n && !rc; i++) {
    v[i] = gmmc_data_dtype(w) == GMMC_FLOAT32 ? (double)((const float *)raw)[i] : ((const double *)raw)[i];
    if (!isfinite(v[i]) || v[i] < 0)
      rc = cli_error("--sample-weight %s: row %lld: the weight %g is %s (weights must be finite and >= 0)", path,
                     (long long)i + 1, v[i],
                     isnan(v[i]) ? "not a number"
                     : v[i] < 0  ? "negative"
                                 : "infinite");
  }
  if (!rc && gmmc_fit_options_set_sample_weight(fo, v, (size_t)n))
    rc = cli_error("--sample-weight %s: %s", path, gmmc_fit_options_error(fo));
  free(v);
  gmmc_data_destroy(w);
  return rc;
}
