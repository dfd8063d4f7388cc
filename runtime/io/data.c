/* Data sets: choosing a reader by extension, releasing, the non-finite scan,
 * and the pieces the readers share (errors, opening, mapping). */
#include "data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsl/util.h"

gmmc_status data_fail(char **err, gmmc_status s, const char *fmt, ...) {
  StrBuf sb = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  if (err)
    *err = sb_take(&sb);
  else
    sb_free(&sb);
  return s;
}

gmmc_status data_open_file(const char *path, int *fd, uint64_t *size, char **err) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below */
  int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (f < 0) return data_fail(err, GMMC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(f, &st) != 0) {
    int e = errno;
    close(f);
    return data_fail(err, GMMC_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(f);
    return data_fail(err, GMMC_ERR_IO, "%s: not a regular file", path);
  }
  if (st.st_size <= 0) {
    close(f);
    return data_fail(err, GMMC_ERR_DATA, "%s: the file is empty", path);
  }
  *fd = f;
  *size = (uint64_t)st.st_size;
  return GMMC_OK;
}

gmmc_status data_map_range(const char *path, int fd, uint64_t offset, uint64_t len, gmmc_data *d, char **err) {
  long page = sysconf(_SC_PAGESIZE);
  uint64_t pg = page > 0 ? (uint64_t)page : 4096;
  uint64_t base = offset - offset % pg; /* mmap offsets must be page-aligned */
  uint64_t delta = offset - base;
  if (len == 0 || len > SIZE_MAX - delta)
    return data_fail(err, GMMC_ERR_DATA, "%s: %llu bytes cannot be mapped", path, (unsigned long long)len);
  size_t map_len = (size_t)(delta + len);
  void *p = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, (off_t)base);
  if (p == MAP_FAILED) {
    gmmc_status s = errno == ENOMEM ? GMMC_ERR_OUT_OF_MEMORY : GMMC_ERR_IO;
    return data_fail(err, s, "%s: cannot map %zu bytes: %s", path, map_len, strerror(errno));
  }
  d->map = p;
  d->map_len = map_len;
  d->values = (const char *)p + delta;
  return GMMC_OK;
}

gmmc_status data_read_any(const char *path, int64_t raw_cols, gmmc_data *out, char **err) {
  if (!path || !out) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "data_read_any: a NULL argument");
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash + 1 : path, '.');
  const char *ext = dot ? dot : "";
  if (strcasecmp(ext, ".npy") == 0) return data_read_npy(path, 0, -1, out, err);
  if (strcasecmp(ext, ".csv") == 0) return data_read_csv(path, out, err);
  memset(out, 0, sizeof *out);
  if (strcasecmp(ext, ".npz") == 0)
    return data_fail(err, GMMC_ERR_DATA, "%s: .npz archives are not read; save the array with numpy.save (.npy)", path);
  if (raw_cols <= 0)
    return data_fail(err, GMMC_ERR_INVALID_ARGUMENT,
                     "%s: unknown data format: expected .npy, .csv, or raw float32 values with the number of "
                     "columns given",
                     path);
  return data_read_raw(path, raw_cols, out, err);
}

void data_release(gmmc_data *d) {
  if (!d) return;
  if (d->map) munmap(d->map, d->map_len);
  free(d->owned);
  free(d->int_refusal);
  d->int_refusal = NULL;
  d->map = NULL;
  d->map_len = 0;
  d->owned = NULL;
  d->values = NULL;
}

void data_drop_pages(const gmmc_data *d, int64_t row0, int64_t n) {
  if (!d || !d->map || n <= 0) return;
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t pg = page > 0 ? (uintptr_t)page : 4096;
  size_t row_bytes = (size_t)d->cols * (d->dtype == GMMC_FLOAT32 ? 4 : 8);
  uintptr_t lo = (uintptr_t)d->values + (size_t)row0 * row_bytes, hi = lo + (size_t)n * row_bytes;
  uintptr_t map_lo = (uintptr_t)d->map, map_hi = map_lo + d->map_len;
  /* whole pages only, and only those of the mapping */
  lo = (lo + pg - 1) / pg * pg;
  hi = hi / pg * pg;
  if (lo < map_lo) lo = map_lo;
  if (hi > map_hi) hi = map_hi;
  if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* The exponent bits all set means NaN or infinity. Scanning the bits of a
 * block at a time keeps the common all-finite case a branch-free loop the
 * compiler vectorizes; only a block with a hit is searched again. */
#define SCAN_BLOCK 4096

static int64_t first_nonfinite_f32(const unsigned char *p, int64_t n) {
  for (int64_t b = 0; b < n; b += SCAN_BLOCK) {
    int64_t e = n - b < SCAN_BLOCK ? n : b + SCAN_BLOCK;
    uint32_t any = 0;
    for (int64_t i = b; i < e; i++) {
      uint32_t u;
      memcpy(&u, p + 4 * i, 4);
      any |= (u & 0x7f800000u) == 0x7f800000u;
    }
    if (!any) continue;
    for (int64_t i = b; i < e; i++) {
      uint32_t u;
      memcpy(&u, p + 4 * i, 4);
      if ((u & 0x7f800000u) == 0x7f800000u) return i;
    }
  }
  return -1;
}

static int64_t first_nonfinite_f64(const unsigned char *p, int64_t n) {
  const uint64_t exp = 0x7ff0000000000000ull;
  for (int64_t b = 0; b < n; b += SCAN_BLOCK) {
    int64_t e = n - b < SCAN_BLOCK ? n : b + SCAN_BLOCK;
    uint64_t any = 0;
    for (int64_t i = b; i < e; i++) {
      uint64_t u;
      memcpy(&u, p + 8 * i, 8);
      any |= (u & exp) == exp;
    }
    if (!any) continue;
    for (int64_t i = b; i < e; i++) {
      uint64_t u;
      memcpy(&u, p + 8 * i, 8);
      if ((u & exp) == exp) return i;
    }
  }
  return -1;
}

int data_find_nonfinite(const gmmc_data *d, int64_t *row, int64_t *col) {
  if (!d || !d->values || d->rows <= 0 || d->cols <= 0 || d->on_device) return 0;
  int64_t n = d->rows * d->cols;
  int64_t i = d->dtype == GMMC_FLOAT32 ? first_nonfinite_f32(d->values, n) : first_nonfinite_f64(d->values, n);
  if (i < 0) return 0;
  if (row) *row = i / d->cols;
  if (col) *col = i % d->cols;
  return 1;
}

/* float32 data widened here: k-means initialisation works in float64 */
void data_row_f64(const gmmc_data *d, int64_t row, double *out) {
  if (d->on_device) {
    d->fetch(d, row, out);
  } else if (d->dtype == GMMC_FLOAT32) {
    const float *x = (const float *)d->values + row * d->cols;
    for (int64_t j = 0; j < d->cols; j++) out[j] = x[j];
  } else {
    memcpy(out, (const double *)d->values + row * d->cols, sizeof(double) * (size_t)d->cols);
  }
}
