/* Raw float32 files: mapped and read back bit for bit; sizes that are not a
 * whole number of rows, bad column counts and empty files refused exactly. */
#include <stdlib.h>
#include <string.h>

#include "io_test.h"
#include "runtime/io/data.h"

static void test_round_trips(void) {
  for (int iter = 0; iter < 30; iter++) {
    int64_t rows = io_range(1, 5000), cols = io_range(1, 33);
    size_t n = sizeof(float) * (size_t)(rows * cols);
    float *x = malloc(n);
    for (int64_t i = 0; i < rows * cols; i++) x[i] = (float)io_normal();
    const char *path = io_path("rt.f32");
    io_write(path, x, n);
    gmmc_data d;
    EXPECT_OK(data_read_raw(path, cols, &d, &err_));
    CHECK(d.rows == rows && d.cols == cols && d.dtype == GMMC_FLOAT32 && d.map && !d.owned);
    CHECK(memcmp(d.values, x, n) == 0);
    data_release(&d);
    free(x);
  }
}

static void test_refusals(void) {
  const char *path = io_path("bad.f32");
  float x[10] = {0};
  io_write(path, x, 38); /* 9.5 values */
  gmmc_data d;
  EXPECT_ERR(data_read_raw(path, 3, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 36: the file size of 38 bytes is not a multiple of 12 bytes (3 float32 columns per row)", path);
  io_write(path, x, 40);
  EXPECT_ERR(data_read_raw(path, 3, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 36: the file size of 40 bytes is not a multiple of 12 bytes (3 float32 columns per row)", path);
  EXPECT_ERR(data_read_raw(path, 20, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 0: the file size of 40 bytes is not a multiple of 80 bytes (20 float32 columns per row)", path);
  EXPECT_ERR(data_read_raw(path, 0, &d, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: raw float32 data needs a number of columns >= 1, not 0", path);
  EXPECT_ERR(data_read_raw(path, -2, &d, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: raw float32 data needs a number of columns >= 1, not -2", path);
  EXPECT_ERR(data_read_raw(path, INT64_MAX, &d, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: raw float32 data needs a number of columns >= 1, not %lld", path, (long long)INT64_MAX);
  io_write(path, x, 0);
  EXPECT_ERR(data_read_raw(path, 3, &d, &err_), GMMC_ERR_DATA, "%s: the file is empty", path);
  path = io_path("missing.f32");
  EXPECT_ERR(data_read_raw(path, 3, &d, &err_), GMMC_ERR_IO, "%s: cannot open: No such file or directory", path);
  EXPECT_ERR(data_read_raw(io_dir(), 3, &d, &err_), GMMC_ERR_IO, "%s: not a regular file", io_dir());
}

int main(void) {
  io_init("io_raw");
  test_round_trips();
  test_refusals();
  return io_done();
}
