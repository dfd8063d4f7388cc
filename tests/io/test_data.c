/* Reading by extension, releasing, and the non-finite scan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io_test.h"
#include "runtime/io/data.h"

static void test_read_any(void) {
  double x[6] = {1, 2, 3, 4, 5, 6};
  gmmc_data d;
  const char *npy = io_path("a.NPY");
  EXPECT_OK(data_write_npy_f64(npy, x, 3, 2, &err_));
  EXPECT_OK(data_read_any(npy, 0, &d, &err_));
  CHECK(d.rows == 3 && d.cols == 2 && d.dtype == GMMC_FLOAT64 && d.map);
  data_release(&d);
  const char *csv = io_path("b.csv");
  io_write(csv, "1,2\n3,4\n", 8);
  EXPECT_OK(data_read_any(csv, 7, &d, &err_)); /* raw_cols is ignored for csv */
  CHECK(d.rows == 2 && d.cols == 2 && d.dtype == GMMC_FLOAT64 && d.owned);
  data_release(&d);
  const char *raw = io_path("c.d/f32"); /* a dot in the directory is not an extension */
  mkdir(io_path("c.d"), 0700);
  float f[6] = {1, 2, 3, 4, 5, 6};
  io_write(raw, f, sizeof f);
  EXPECT_OK(data_read_any(raw, 3, &d, &err_));
  CHECK(d.rows == 2 && d.cols == 3 && d.dtype == GMMC_FLOAT32);
  data_release(&d);
  EXPECT_ERR(data_read_any(raw, 0, &d, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: unknown data format: expected .npy, .csv, or raw float32 values with the number of columns given",
             raw);
  const char *npz = io_path("d.npz");
  io_write(npz, "PK", 2);
  EXPECT_ERR(data_read_any(npz, 0, &d, &err_), GMMC_ERR_DATA,
             "%s: .npz archives are not read; save the array with numpy.save (.npy)", npz);
}

static void test_release(void) {
  gmmc_data d = {0};
  data_release(&d); /* nothing owned: a no-op */
  data_release(NULL);
  d.owned = malloc(16);
  d.values = d.owned;
  data_release(&d);
  CHECK(!d.owned && !d.values);
  data_release(&d);
}

/* Every kind of non-finite value, in both dtypes, anywhere, several at once:
 * the first one is found; an all-finite set gives 0. */
static void test_nonfinite(void) {
  for (int iter = 0; iter < 200; iter++) {
    int64_t rows = io_range(1, 3000), cols = io_range(1, 9), n = rows * cols;
    int f32 = (int)io_range(0, 1);
    double *x = malloc(sizeof(double) * (size_t)n);
    float *y = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
      x[i] = io_normal() * (io_range(0, 1) ? 1e300 : 1);
      y[i] = (float)(io_normal() * 1e30);
    }
    gmmc_data d = {rows, cols, f32 ? GMMC_FLOAT32 : GMMC_FLOAT64, f32 ? (void *)y : (void *)x, NULL, NULL, 0};
    int64_t r = -1, c = -1;
    CHECK(!data_find_nonfinite(&d, &r, &c));
    int64_t first = n;
    for (int k = (int)io_range(1, 3); k > 0; k--) {
      int64_t i = io_range(0, n - 1);
      double v = (double[]){NAN, INFINITY, -INFINITY, -NAN}[io_range(0, 3)];
      x[i] = v;
      y[i] = (float)v;
      if (i < first) first = i;
    }
    CHECK(data_find_nonfinite(&d, &r, &c));
    CHECK(r == first / cols && c == first % cols);
    free(x);
    free(y);
  }
  float big = 3.4e38f; /* the largest floats are finite */
  gmmc_data d = {1, 1, GMMC_FLOAT32, &big, NULL, NULL, 0};
  CHECK(!data_find_nonfinite(&d, NULL, NULL));
  d.rows = 0;
  CHECK(!data_find_nonfinite(&d, NULL, NULL));
}

int main(void) {
  io_init("io_data");
  test_read_any();
  test_release();
  test_nonfinite();
  return io_done();
}
