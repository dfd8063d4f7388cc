/* Fuzz target: the .npy reader (runtime/io/data_npy.c).
 *
 * The input is the whole file. Properties beyond "no crash, no leak, no
 * undefined behaviour, no read outside the mapping" (every value is read):
 *   - a failure has a message naming the file, a success a sane shape;
 *   - data_npy_shape agrees with data_read_npy (which alone reads the values
 *     and so alone refuses a 64-bit integer beyond 2^53);
 *   - integer and boolean payloads are widened to float64 (at most 8 bytes
 *     of values per byte of file);
 *   - a row slice (from a hash of the input) reads the same bytes as the
 *     corresponding rows of the whole array. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/io/data.h"

static size_t item(const gmmc_data *d) { return d->dtype == GMMC_FLOAT32 ? 4 : 8; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  size_t plen = strlen(path);
  char *err = NULL;
  int64_t rows = -1, cols = -1;
  gmmc_status ss = data_npy_shape(path, &rows, &cols, &err);
  if (ss) {
    FUZZ_CHECK(err && !strncmp(err, path, plen), "data_npy_shape: message '%s'", err ? err : "(none)");
    free(err);
    err = NULL;
  }
  gmmc_data d;
  gmmc_status s = data_read_npy(path, 0, -1, &d, &err);
  if (s) {
    FUZZ_CHECK(err && !strncmp(err, path, plen), "data_read_npy: message '%s'", err ? err : "(none)");
    FUZZ_CHECK(ss != GMMC_OK || strstr(err, "is beyond 2^53"), "data_npy_shape accepted what data_read_npy refused: %s",
               err);
    free(err);
    return 0;
  }
  FUZZ_CHECK(!ss && rows == d.rows && cols == d.cols, "data_npy_shape disagrees with data_read_npy");
  FUZZ_CHECK(d.rows > 0 && d.cols > 0 && d.values, "a bad shape (%lld, %lld)", (long long)d.rows, (long long)d.cols);
  FUZZ_CHECK(d.dtype == GMMC_FLOAT32 || d.dtype == GMMC_FLOAT64, "dtype %d", (int)d.dtype);
  size_t bytes = (size_t)(d.rows * d.cols) * item(&d);
  FUZZ_CHECK(bytes <= (d.int_refusal ? 8 * size : size), "%zu bytes of values from a %zu-byte file", bytes, size);
  /* every byte is read: ASan or a SIGBUS would catch a mapping too short */
  const unsigned char *v = d.values;
  unsigned acc = 0;
  for (size_t i = 0; i < bytes; i++) acc += v[i];
  int64_t r, c;
  if (data_find_nonfinite(&d, &r, &c))
    FUZZ_CHECK(r >= 0 && r < d.rows && c >= 0 && c < d.cols, "nonfinite at %lld,%lld", (long long)r, (long long)c);
  /* a slice of rows */
  uint64_t h = fuzz_hash(data, size) ^ acc;
  int64_t b = (int64_t)(h % (uint64_t)d.rows), e = b + 1 + (int64_t)((h >> 32) % (uint64_t)(d.rows - b));
  gmmc_data sl;
  s = data_read_npy(path, b, e, &sl, &err);
  FUZZ_CHECK(!s, "slice [%lld, %lld) of %lld rows refused: %s", (long long)b, (long long)e, (long long)d.rows, err);
  size_t row = (size_t)d.cols * item(&d);
  FUZZ_CHECK(sl.rows == e - b && sl.cols == d.cols && sl.dtype == d.dtype, "slice shape");
  FUZZ_CHECK(!memcmp(sl.values, (const char *)d.values + (size_t)b * row, (size_t)(e - b) * row), "slice contents");
  data_release(&sl);
  /* slices that select nothing or lie outside are refused with a message */
  s = data_read_npy(path, d.rows, d.rows + 1, &sl, &err);
  FUZZ_CHECK(s == GMMC_ERR_INVALID_ARGUMENT && err, "an out-of-range slice was accepted");
  free(err);
  data_release(&d);
  return 0;
}
