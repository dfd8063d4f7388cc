/* gmmc_model_load refuses a model file that disagrees with its own spec, as
 * gmmc predict/score do: otherwise gmmc_predict_proba on such a model would
 * write rows x M values into the caller's rows x n_components array. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robust_test.h"

int main(void) {
  io_init("robust_model_load");
  gmmc_context *ctx = rb_context();
  double *x = rb_blobs(100, 2, 3, 8);
  gmmc_model *m = NULL;
  EXPECT_API_OK(ctx, rb_fit(ctx, x, 100, 2, 3, "full", 1e-6, &m));
  const char *path = io_path("model.yaml");
  EXPECT_API_OK(ctx, gmmc_model_save(ctx, m, path));
  gmmc_model_destroy(m);
  size_t len;
  char *yaml = io_read(path, &len);
  char *at = strstr(yaml, "\nn_components: 3\n");
  CHECK(at);
  at[strlen("\nn_components: ")] = '2';
  io_write(path, yaml, len);
  free(yaml);
  m = NULL;
  EXPECT_FAIL(ctx, gmmc_model_load(ctx, path, &m), GMMC_ERR_DATA, "the model does not match its spec",
              "n_components is 2, but size M is 3");
  CHECK(!m);
  gmmc_context_destroy(ctx);
  free(x);
  return io_done();
}
