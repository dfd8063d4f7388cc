/* Writes Gaussian blobs as a .npy file (float64), for the valgrind and
 * sanitizer runs of tools/sanitize.sh:
 *   robust_make_data FILE ROWS COLS CENTERS [SEED] */
#include <stdio.h>
#include <stdlib.h>

#include "robust_test.h"
#include "runtime/io/data.h"

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: robust_make_data FILE ROWS COLS CENTERS [SEED]\n");
    return 2;
  }
  if (argc > 5) setenv("GMMC_TEST_SEED", argv[5], 1);
  io_init("robust_make_data");
  long long n = atoll(argv[2]), d = atoll(argv[3]), c = atoll(argv[4]);
  double *x = rb_blobs(n, (int)d, (int)c, 6);
  char *err = NULL;
  if (data_write_npy_f64(argv[1], x, n, d, &err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  free(x);
  return io_done();
}
