/* The public MPI calls (gmmc_mpi.h): a context that is one rank of a
 * communicator, and each rank's share of a data file. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gmmc/gmmc_mpi.h"
#include "mpi_dist.h"
#include "runtime/device/threadpool.h"
#include "runtime/exec/context.h"
#include "runtime/io/data.h"

gmmc_status gmmc_context_create_mpi(gmmc_context **out, gmmc_backend backend, MPI_Comm comm) {
  if (!out) return GMMC_ERR_INVALID_ARGUMENT;
  Dist *d = NULL;
  char *err = NULL;
  gmmc_status s = mpi_dist_create(comm, &d, &err);
  if (s) { /* no communicator to agree over: the same failure everywhere */
    gmmc_context *ctx = xcalloc(1, sizeof *ctx);
    *out = ctx;
    if (!ctx) free(err);
    return ctx ? ctx_fail_take(ctx, s, err) : s;
  }
  /* one GPU per rank of a host; host threads shared among its ranks */
  const char *dev = getenv("GMMC_DEVICE");
  int device = dev && *dev ? atoi(dev) : d->local_rank;
  int threads = pool_cpus() / d->local_size;
  s = ctx_create(out, backend, device, threads < 1 ? 1 : threads);
  gmmc_context *ctx = *out;
  if (!ctx) { /* no memory for a context: the others still learn of it */
    char *msg = NULL;
    double none[2] = {0, 0};
    d->ops->agree(d, s, &msg, none, 2);
    free(msg);
    d->ops->destroy(d);
    return s;
  }
  ctx->dist = d;
  d->profile = ctx->profile; /* GMMC_PROFILE, read once by ctx_create */
  double kind[2] = {s ? 0 : (double)ctx->kind, s ? 0 : -(double)ctx->kind};
  if ((s = ctx_agree(ctx, s, kind, 2))) return s;
  if (kind[0] != -kind[1])
    return ctx_fail(ctx, GMMC_ERR_DEVICE,
                    "the ranks do not all train on the same kind of backend: some found their GPU (by local rank, or "
                    "GMMC_DEVICE), some did not; give every rank a GPU, or choose the host backend");
  return GMMC_OK;
}

int gmmc_context_rank(const gmmc_context *ctx) { return ctx && ctx->dist ? ctx->dist->rank : 0; }
int gmmc_context_ranks(const gmmc_context *ctx) { return ctx && ctx->dist ? ctx->dist->size : 1; }

static int has_ext(const char *path, const char *ext) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash + 1 : path, '.');
  return dot && strcasecmp(dot, ext) == 0;
}

/* Rows [first, end) of n for this rank. */
static gmmc_status my_rows(const Dist *d, const char *path, int64_t n, int64_t *first, int64_t *end, char **err) {
  if (n < d->size)
    return data_fail(err, GMMC_ERR_DATA, "%s: %lld events cannot be shared among %d ranks (one at least each)", path,
                     (long long)n, d->size);
  *first = n / d->size * d->rank + n % d->size * d->rank / d->size;
  *end = n / d->size * (d->rank + 1) + n % d->size * (d->rank + 1) / d->size;
  return GMMC_OK;
}

static gmmc_status raw_part(const Dist *d, const char *path, int64_t cols, gmmc_data *out, char **err) {
  if (cols < 1)
    return data_fail(err, GMMC_ERR_INVALID_ARGUMENT,
                     "%s: unknown data format: expected .npy, .csv, or raw float32 values with the number of columns "
                     "given",
                     path);
  int fd;
  uint64_t size;
  gmmc_status s = data_open_file(path, &fd, &size, err);
  if (s) return s;
  uint64_t row = 4 * (uint64_t)cols;
  int64_t first = 0, end = 0;
  if (size % row)
    s = data_fail(err, GMMC_ERR_DATA,
                  "%s: the file size of %llu bytes is not a multiple of %llu bytes (%lld float32 "
                  "columns per row)",
                  path, (unsigned long long)size, (unsigned long long)row, (long long)cols);
  if (!s) s = my_rows(d, path, (int64_t)(size / row), &first, &end, err);
  if (!s) s = data_map_range(path, fd, (uint64_t)first * row, (uint64_t)(end - first) * row, out, err);
  close(fd);
  if (s) return s;
  out->rows = end - first;
  out->cols = cols;
  out->dtype = GMMC_FLOAT32;
  return GMMC_OK;
}

/* CSV has no index of its rows: rank 0 parses it and scatters the rows. */
static gmmc_status csv_part(Dist *d, const char *path, gmmc_data *out, char **err) {
  gmmc_data all = {0};
  gmmc_status s = d->rank == 0 ? data_read_csv(path, &all, err) : GMMC_OK;
  double shape[2] = {(double)all.rows, (double)all.cols};
  if ((s = d->ops->agree(d, s, err, shape, 2))) {
    data_release(&all);
    return s;
  }
  int64_t rows = (int64_t)shape[0], cols = (int64_t)shape[1], first, end;
  if ((s = my_rows(d, path, rows, &first, &end, err))) { /* the same on every rank */
    data_release(&all);
    return s;
  }
  int *counts = xmalloc(sizeof(int) * (size_t)d->size), *displs = xmalloc(sizeof(int) * (size_t)d->size);
  int too_big = rows * cols > INT32_MAX;
  out->owned = too_big ? NULL : xmalloc(sizeof(double) * (size_t)((end - first) * cols + 1));
  /* every process learns of a failed allocation before the scatter */
  s = !counts || !displs || (!too_big && !out->owned) ? oom_status(err, "this process's rows") : GMMC_OK;
  if ((s = d->ops->agree(d, s, err, NULL, 0))) {
    free(counts);
    free(displs);
    free(out->owned);
    out->owned = NULL;
    data_release(&all);
    return s;
  }
  for (int r = 0; r < d->size; r++) {
    int64_t f = rows / d->size * r + rows % d->size * r / d->size;
    int64_t e = rows / d->size * (r + 1) + rows % d->size * (r + 1) / d->size;
    counts[r] = (int)((e - f) * cols);
    displs[r] = (int)(f * cols);
  }
  if (too_big) {
    s = data_fail(err, GMMC_ERR_DATA, "%s: %lld values are too many to send from a CSV file; convert it to .npy", path,
                  (long long)(rows * cols));
  } else {
    int rc = MPI_Scatterv(all.values, counts, displs, MPI_DOUBLE, out->owned, counts[d->rank], MPI_DOUBLE, 0,
                          mpi_dist_comm(d));
    if (rc != MPI_SUCCESS) s = data_fail(err, GMMC_ERR_INTERNAL, "%s: MPI_Scatterv failed", path);
    out->values = out->owned;
    out->rows = end - first;
    out->cols = cols;
    out->dtype = GMMC_FLOAT64;
  }
  free(counts);
  free(displs);
  data_release(&all);
  return s;
}

gmmc_status gmmc_data_load_part(gmmc_context *ctx, const char *path, int64_t raw_dims, gmmc_data **out) {
  if (!ctx || !path || !out) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_data_load_part: a NULL argument");
  *out = NULL;
  Dist *d = ctx->dist;
  if (!d) return gmmc_data_load(ctx, path, raw_dims, out);
  gmmc_data *g = xcalloc(1, sizeof *g);
  char *err = NULL;
  gmmc_status s;
  if (!g) return ctx_agree(ctx, ctx_oom(ctx, "a data set"), NULL, 0);
  if (has_ext(path, ".csv")) {
    s = csv_part(d, path, g, &err);
  } else if (has_ext(path, ".npy")) {
    int64_t n, first = 0, end = 0;
    s = data_npy_shape(path, &n, NULL, &err);
    if (!s) s = my_rows(d, path, n, &first, &end, &err);
    if (!s) s = data_read_npy(path, first, end, g, &err);
  } else if (has_ext(path, ".npz")) {
    s = data_fail(&err, GMMC_ERR_DATA, "%s: .npz archives are not read; save the array with numpy.save (.npy)", path);
  } else {
    s = raw_part(d, path, raw_dims, g, &err);
  }
  if (!s && mpi_dist_fault(d, "load")) {
    data_release(g);
    s = data_fail(&err, GMMC_ERR_IO, "%s: cannot read this rank's rows: injected failure (GMMC_TEST_FAIL)", path);
  }
  if (s) ctx_fail_take(ctx, s, err);
  if ((s = ctx_agree(ctx, s, NULL, 0))) {
    data_release(g);
    free(g);
    return s;
  }
  *out = g;
  return GMMC_OK;
}
