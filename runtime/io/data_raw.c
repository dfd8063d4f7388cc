/* Raw little-endian float32 values, cols per event, no header: the whole file
 * is mapped read-only. A size that is not a whole number of events means the
 * column count is wrong or the file is cut short:
 *   FILE: byte OFFSET: the file size of S bytes is not a multiple of B bytes (C float32 columns per row)
 * where OFFSET is where the incomplete last row starts. */
#include <string.h>
#include <unistd.h>

#include "data.h"

gmmc_status data_read_raw(const char *path, int64_t cols, gmmc_data *out, char **err) {
  if (!path || !out) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "data_read_raw: a NULL argument");
  memset(out, 0, sizeof *out);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return data_fail(err, GMMC_ERR_DATA, "%s: raw little-endian float32 data cannot be mapped on a big-endian host",
                   path);
#endif
  if (cols < 1 || cols > INT64_MAX / 4)
    return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: raw float32 data needs a number of columns >= 1, not %lld",
                     path, (long long)cols);
  int fd;
  uint64_t size;
  gmmc_status s = data_open_file(path, &fd, &size, err);
  if (s) return s;
  uint64_t row_bytes = 4 * (uint64_t)cols;
  if (size % row_bytes != 0) {
    close(fd);
    return data_fail(err, GMMC_ERR_DATA,
                     "%s: byte %llu: the file size of %llu bytes is not a multiple of %llu bytes (%lld float32 "
                     "columns per row)",
                     path, (unsigned long long)(size - size % row_bytes), (unsigned long long)size,
                     (unsigned long long)row_bytes, (long long)cols);
  }
  s = data_map_range(path, fd, 0, size, out, err);
  close(fd);
  if (s) return s;
  out->rows = (int64_t)(size / row_bytes);
  out->cols = cols;
  out->dtype = GMMC_FLOAT32;
  return GMMC_OK;
}
