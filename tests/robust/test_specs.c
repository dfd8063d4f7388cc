/* Specs with unusual but valid structure (tests/robust/specs: flow style,
 * sections in another order, folded and literal block scalars, other size
 * and index names, a byte-order mark with CRLF line ends, document markers
 * and tags) train exactly as the shipped gmm_diag they restate: the same
 * parameters and lower bound on the same data and seed. Their models save,
 * load back and pass the check against their own spec text.
 *
 *   robust_specs DIR */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robust_test.h"
#include "runtime/model/model.h"

gmmc_status model_file_check_spec(const gmmc_model *m, const char *path, char **err);

static gmmc_model *fit(gmmc_context *ctx, gmmc_data *data, const char *name, const char *text) {
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, 3);
  gmmc_fit_options_set_seed(o, io_seed());
  if (text)
    gmmc_fit_options_set_spec(o, name, text);
  else
    gmmc_fit_options_set_covariance_type(o, "diag");
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, gmmc_fit(ctx, data, o, &m));
  gmmc_fit_options_destroy(o);
  CHECK_FINITE(m);
  return m;
}

static void same_params(const gmmc_model *a, const gmmc_model *b, const char *name) {
  static const char *const params[] = {"weights", "means", "covariances", "precisions_cholesky"};
  for (int i = 0; i < 4; i++) {
    int ra, rb;
    const int64_t *sa, *sb;
    const double *va = gmmc_model_param(a, params[i], &ra, &sa), *vb = gmmc_model_param(b, params[i], &rb, &sb);
    CHECK(va && vb && ra == rb);
    int64_t n = 1;
    for (int d = 0; d < ra; d++) {
      CHECK(sa[d] == sb[d]);
      n *= sa[d];
    }
    for (int64_t k = 0; k < n; k++)
      if (fabs(va[k] - vb[k]) > 1e-12 * (1 + fabs(va[k])))
        io_fail(__FILE__, __LINE__, "%s: %s[%lld] = %.17g, the shipped spec gives %.17g", name, params[i], (long long)k,
                vb[k], va[k]);
  }
  CHECK(fabs(gmmc_model_lower_bound(a) - gmmc_model_lower_bound(b)) <= 1e-12 * fabs(gmmc_model_lower_bound(a)));
  CHECK(gmmc_model_n_iter(a) == gmmc_model_n_iter(b));
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: robust_specs DIR\n");
    return 2;
  }
  io_init("robust_specs");
  gmmc_context *ctx = rb_context();
  int64_t n = 600, d = 3;
  double *x = rb_blobs(n, (int)d, 3, 7);
  gmmc_data *data;
  EXPECT_API_OK(ctx, gmmc_data_wrap(ctx, x, GMMC_FLOAT64, n, d, &data));
  gmmc_model *ref = fit(ctx, data, NULL, NULL);
  DIR *dir = opendir(argv[1]);
  CHECK(dir);
  int count = 0;
  for (struct dirent *e; (e = readdir(dir));) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
    size_t tlen;
    char *text = io_read(path, &tlen);
    gmmc_model *m = fit(ctx, data, e->d_name, text);
    same_params(ref, m, e->d_name);
    /* its model file: saved, loaded, consistent with the spec text it holds */
    const char *saved = io_path("model.yaml");
    EXPECT_API_OK(ctx, gmmc_model_save(ctx, m, saved));
    gmmc_model *back = NULL;
    EXPECT_API_OK(ctx, gmmc_model_load(ctx, saved, &back));
    CHECK(!strcmp(back->spec_text, text));
    char *err = NULL;
    if (model_file_check_spec(back, saved, &err)) io_fail(__FILE__, __LINE__, "%s", err);
    double s1, s2;
    EXPECT_API_OK(ctx, gmmc_score(ctx, back, data, &s1));
    EXPECT_API_OK(ctx, gmmc_score(ctx, ref, data, &s2));
    CHECK(fabs(s1 - s2) <= 1e-12 * fabs(s2));
    printf("  ok: %s trains as gmm_diag (lower bound %.12g, %d iterations); its model file round-trips\n", e->d_name,
           gmmc_model_lower_bound(m), gmmc_model_n_iter(m));
    gmmc_model_destroy(back);
    gmmc_model_destroy(m);
    free(text);
    count++;
  }
  closedir(dir);
  CHECK(count >= 4);
  gmmc_model_destroy(ref);
  gmmc_data_destroy(data);
  gmmc_context_destroy(ctx);
  free(x);
  return io_done();
}
