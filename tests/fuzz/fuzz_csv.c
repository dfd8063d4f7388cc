/* Fuzz target: the CSV reader (runtime/io/data_csv.c), and on the same bytes
 * the raw float32 reader with 1..8 columns (runtime/io/data_raw.c).
 *
 * Properties beyond "no crash, no leak, no undefined behaviour":
 *   - a failure has a message naming the file; the CSV messages that place
 *     an error name its row (and, for a field, its column);
 *   - a success has rows >= 1, cols >= 1 and only finite values (the reader
 *     refuses NaN and infinity), float64. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/io/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  size_t plen = strlen(path);
  char *err = NULL;
  gmmc_data d;
  gmmc_status s = data_read_csv(path, &d, &err);
  if (s) {
    FUZZ_CHECK(err && !strncmp(err, path, plen) && err[plen] == ':', "data_read_csv: message '%s'",
               err ? err : "(none)");
    free(err);
    err = NULL;
  } else {
    FUZZ_CHECK(d.rows >= 1 && d.cols >= 1 && d.values && d.dtype == GMMC_FLOAT64, "a bad result (%lld x %lld)",
               (long long)d.rows, (long long)d.cols);
    FUZZ_CHECK((uint64_t)d.rows * (uint64_t)d.cols <= size, "more values than bytes");
    FUZZ_CHECK(!data_find_nonfinite(&d, NULL, NULL), "a non-finite value was accepted");
    data_release(&d);
  }
  int64_t cols = 1 + (int64_t)(fuzz_hash(data, size) & 7);
  s = data_read_raw(path, cols, &d, &err);
  if (s) {
    FUZZ_CHECK(err && !strncmp(err, path, plen), "data_read_raw: message '%s'", err ? err : "(none)");
    free(err);
  } else {
    FUZZ_CHECK(d.rows * d.cols * 4 == (int64_t)size && d.dtype == GMMC_FLOAT32, "raw: a bad shape");
    const unsigned char *v = d.values;
    unsigned acc = 0;
    for (size_t i = 0; i < size; i++) acc += v[i];
    (void)acc;
    int64_t r, c;
    if (data_find_nonfinite(&d, &r, &c)) FUZZ_CHECK(r < d.rows && c < d.cols, "raw: nonfinite position");
    data_release(&d);
  }
  return 0;
}
