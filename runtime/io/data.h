/* Data sets: an N x D row-major matrix of float32 or float64 events, read
 * from .npy (memory-mapped), .csv or raw float32 files, or wrapping caller
 * memory. This is the definition behind the public gmmc_data handle. */
#ifndef GMMC_RUNTIME_DATA_H
#define GMMC_RUNTIME_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "gmmc/gmmc.h"
#include "runtime/device/oom.h"

struct gmmc_data {
  int64_t rows, cols;
  gmmc_dtype dtype;   /* GMMC_FLOAT32 or GMMC_FLOAT64 */
  const void *values; /* rows * cols values, row-major */
  void *owned;        /* malloc'd storage to free, or NULL */
  void *map;          /* mmap'ed region to unmap, or NULL */
  size_t map_len;
  /* per-row weights (rows values, finite, >= 0) for a spec's optional data
   * tensor, or NULL: set by a fit on its own view of the caller's data
   * (gmmc_fit_options_set_sample_weight), never owned */
  const double *weights;
  char *int_refusal; /* integer or boolean .npy values (widened to float64): the
                        message refusing them to a spec of real data; else NULL */
  /* device data (gmmc_data_wrap_device): values is an address in the
   * memory of GPU `device`, read in place by the CUDA backend (exec.c's
   * exec_bind_data); host code never dereferences it. Element (i, j) is at
   * values + (i * row_stride + j * col_stride) elements. A few rows read
   * on the host (the initialisations' seeds) come through fetch, which
   * fills NaN when the copy fails. */
  int on_device;
  int device;
  int64_t row_stride, col_stride;
  void *stream; /* the producer's CUstream, waited for before each use; NULL: none */
  void *fetch_user;
  void (*fetch)(const gmmc_data *d, int64_t row, double *out);
};

/* Each reader fills *out and returns GMMC_OK, or returns an error status and
 * sets *err to a malloc'd message that names the file and, for malformed
 * contents, the byte offset (npy, raw) or the row and column (csv).
 *
 * .npy: format versions 1.0, 2.0 and 3.0, dtype '<f4' or '<f8', C order,
 * shape (N, D) or (N,) (D = 1); the payload is memory-mapped, not copied.
 * Integer ('<i1'..'<i8', '<u1'..'<u8') and boolean ('|b1') payloads are
 * read into float64 (exact: 64-bit values beyond 2^53 are refused), with
 * int_refusal set: only specs declaring integer or binary data take them
 * (data_check_spec in data_spec.h).
 * Fortran order, other dtypes, big-endian data and truncated files are
 * refused. row_begin/row_end select a slice of rows (for one MPI rank);
 * row_end < 0 means all rows. */
gmmc_status data_read_npy(const char *path, int64_t row_begin, int64_t row_end, gmmc_data *out, char **err);

/* Number of rows and columns of a .npy file without mapping it. */
gmmc_status data_npy_shape(const char *path, int64_t *rows, int64_t *cols, char **err);

/* CSV: comma-separated numbers, one event per line; an optional first line
 * of column names (any non-numeric first row is taken as a header); blank
 * trailing lines ignored. Ragged rows, empty fields and non-numbers are
 * refused with their row and column (1-based, as an editor shows them).
 * Values are stored as float64. */
gmmc_status data_read_csv(const char *path, gmmc_data *out, char **err);

/* Raw little-endian float32 values, cols per event; the file size must be a
 * multiple of 4 * cols. Memory-mapped. */
gmmc_status data_read_raw(const char *path, int64_t cols, gmmc_data *out, char **err);

/* By extension: .npy, .csv, anything else is raw float32 (needs cols > 0). */
gmmc_status data_read_any(const char *path, int64_t raw_cols, gmmc_data *out, char **err);

/* Releases what the data owns (not the struct itself). */
void data_release(gmmc_data *d);

/* A hint after streaming rows [row0, row0 + n) of memory-mapped data: their
 * pages leave this process's resident set (the page cache keeps them), so
 * that a pass over a large file does not hold all of it. No-op otherwise. */
void data_drop_pages(const gmmc_data *d, int64_t row0, int64_t n);

/* Writes a 1-D or 2-D array as .npy (version 1.0), dtype '<i4' or '<f8';
 * cols == 0 writes the 1-D shape (rows,). */
gmmc_status data_write_npy_i32(const char *path, const int32_t *values, int64_t rows, char **err);
gmmc_status data_write_npy_f64(const char *path, const double *values, int64_t rows, int64_t cols, char **err);

/* First row/column holding NaN or infinity, for a clear error; returns 0
 * when every value is finite, and for device data (not read on the host:
 * a NaN there makes the log-likelihood not finite, which the fit reports).
 * Row and column are 0-based. */
int data_find_nonfinite(const gmmc_data *d, int64_t *row, int64_t *col);
/* Event `row` of d as float64 (d->cols values into out). */
void data_row_f64(const gmmc_data *d, int64_t row, double *out);

/* Shared by the readers (data*.c): a malloc'd message in *err; opening a
 * non-empty regular file; mapping [offset, offset + len) of it read-only
 * (page-aligned underneath) into d->map, d->map_len and d->values. */
gmmc_status data_fail(char **err, gmmc_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
gmmc_status data_open_file(const char *path, int *fd, uint64_t *size, char **err);
gmmc_status data_map_range(const char *path, int fd, uint64_t offset, uint64_t len, gmmc_data *d, char **err);

#endif
