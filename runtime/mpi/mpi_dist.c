/* Data-parallel EM over MPI: the all-reduce at every reduce point, the
 * agreement on failures, and the small collectives of the initialisation.
 *
 * One MPI_Allreduce per reduce point: the stat buffers of the point are
 * packed into one float64 buffer. When all of them are sums it is a plain
 * MPI_SUM (the library may split and pipeline it); when some are max or min
 * it is one user-defined operation over one element that holds
 * [number of sums, sums..., max values...], the min values negated. A
 * failure flag rides along, so that a process whose step failed still
 * meets the others here and every process leaves with its error. */
#include "mpi_dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  Dist base;
  MPI_Comm comm;
  MPI_Op packed;  /* sums then maxima, see packed_op */
  int fault_rank; /* GMMC_TEST_FAIL, -1 when unset */
  char fault_where[16];
  int64_t fault_point;
  int64_t points;      /* reduce points so far */
  gmmc_status pending; /* a local failure after a collective, reported at the next one */
  char *pending_msg;
  double *pack;
  int64_t cappack;
} MpiDist;

static gmmc_status mpi_fail(char **err, int code, const char *what) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  free(*err);
  *err = xasprintf("MPI: %s failed: %.*s", what, len, text);
  return GMMC_ERR_INTERNAL;
}

/* [n, sums (n of them)..., maxima...] per element; the leading count is
 * the same in both operands and stays. */
static void packed_op(void *in, void *inout, int *len, MPI_Datatype *dt) {
  int bytes = 0;
  MPI_Type_size(*dt, &bytes);
  int64_t n = bytes / (int64_t)sizeof(double);
  for (int k = 0; k < *len; k++) {
    const double *a = (const double *)in + (int64_t)k * n;
    double *b = (double *)inout + (int64_t)k * n;
    int64_t nsum = (int64_t)a[0];
    for (int64_t j = 1; j <= nsum; j++) b[j] += a[j];
    for (int64_t j = nsum + 1; j < n; j++)
      if (a[j] > b[j]) b[j] = a[j];
  }
}

static void take_pending(MpiDist *md, gmmc_status *s, char **msg) {
  if (!md->pending) return;
  if (!*s) {
    *s = md->pending;
    free(*msg);
    *msg = md->pending_msg;
  } else {
    free(md->pending_msg);
  }
  md->pending = GMMC_OK;
  md->pending_msg = NULL;
}

/* Everyone knows that some process failed: the status and message of the
 * lowest-ranked one go to all, naming that rank unless all failed alike. */
static gmmc_status share_failure(MpiDist *md, gmmc_status mine, int all_failed, char **msg) {
  int rank = md->base.rank, size = md->base.size;
  int who = mine ? rank : size, first = size;
  int rc = MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, md->comm);
  if (rc != MPI_SUCCESS) return mpi_fail(msg, rc, "MPI_Allreduce");
  if (first >= size) first = 0;
  const char *text = mine && *msg ? *msg : mine == GMMC_ERR_OUT_OF_MEMORY ? "out of memory" : "failed";
  /* a fixed buffer: out of memory on the way would leave the others in the broadcast */
  char buf[4096];
  int hdr[2] = {0, 0};
  if (rank == first) {
    hdr[0] = (int)(mine ? mine : GMMC_ERR_INTERNAL);
    snprintf(buf, sizeof buf, "%s", text); /* a longer message is cut */
    hdr[1] = (int)strlen(buf) + 1;
  }
  rc = MPI_Bcast(hdr, 2, MPI_INT, first, md->comm);
  if (rc != MPI_SUCCESS) return mpi_fail(msg, rc, "MPI_Bcast");
  rc = MPI_Bcast(buf, hdr[1], MPI_CHAR, first, md->comm);
  if (rc != MPI_SUCCESS) return mpi_fail(msg, rc, "MPI_Bcast");
  buf[sizeof buf - 1] = 0;
  free(*msg);
  *msg = size > 1 && !all_failed ? xasprintf("rank %d of %d: %s", first, size, buf) : xstrdup(buf);
  return hdr[0] ? (gmmc_status)hdr[0] : GMMC_ERR_INTERNAL;
}

static gmmc_status agree(Dist *d, gmmc_status s, char **msg, double *vals, int n) {
  MpiDist *md = (MpiDist *)d;
  take_pending(md, &s, msg);
  /* [someone failed, someone did not, vals...], all max-reduced; on the
   * stack up to 62 values (ctx_agree's callers pass at most the process
   * count + 4): out of memory here would leave the others in the collective */
  double small[64], *v = n + 2 <= 64 ? small : xmalloc(sizeof(double) * ((size_t)n + 2));
  if (!v) return oom_status(msg, "an agreement of many values (the other processes wait)");
  v[0] = s ? 1 : 0;
  v[1] = s ? 0 : 1;
  if (n) memcpy(v + 2, vals, sizeof(double) * (size_t)n);
  int rc = MPI_Allreduce(MPI_IN_PLACE, v, n + 2, MPI_DOUBLE, MPI_MAX, md->comm);
  if (rc != MPI_SUCCESS) {
    if (v != small) free(v);
    return mpi_fail(msg, rc, "MPI_Allreduce");
  }
  if (n) memcpy(vals, v + 2, sizeof(double) * (size_t)n);
  gmmc_status r = v[0] > 0 ? share_failure(md, s, v[1] == 0, msg) : GMMC_OK;
  if (v != small) free(v);
  return r;
}

static gmmc_status allreduce(Dist *d, double *v, int64_t n, RedOp op, char **err) {
  MpiDist *md = (MpiDist *)d;
  MPI_Op o = op == R_SUM ? MPI_SUM : op == R_MAX ? MPI_MAX : MPI_MIN;
  for (int64_t at = 0; at < n; at += INT_MAX / 2) {
    int c = n - at < INT_MAX / 2 ? (int)(n - at) : INT_MAX / 2;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v + at, c, MPI_DOUBLE, o, md->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Allreduce");
  }
  return GMMC_OK;
}

/* The values one all-reduce of these stat buffers carries, and its layout:
 * [count of sums (when mixed)] sums flag maxima. */
static int64_t pack_size(const Program *p, const int *bufs, int nbufs, int64_t *nsum, int64_t *nmax) {
  *nsum = *nmax = 0;
  for (int i = 0; i < nbufs; i++) {
    int64_t n = buffer_elems(p->bufs[bufs[i]], 0);
    if (p->bufs[bufs[i]]->stat_op == R_SUM)
      *nsum += n;
    else
      *nmax += n;
  }
  return (*nmax > 0) + *nsum + 1 + *nmax;
}

static gmmc_status prepare(Dist *d, const Program *p, char **err) {
  MpiDist *md = (MpiDist *)d;
  int64_t most = 0, nsum, nmax;
  for (int q = 0; q < SEQ_COUNT; q++)
    for (int i = 0; i < p->seq[q].len; i++) {
      const Step *st = &p->seq[q].steps[i];
      int64_t total = st->kind == STEP_REDUCE ? pack_size(p, st->bufs, st->nbufs, &nsum, &nmax) : 0;
      if (total > most && total <= INT_MAX / 8) most = total; /* larger: refused the same everywhere */
    }
  if (most <= md->cappack) return GMMC_OK;
  double *pack = xrealloc(md->pack, sizeof(double) * (size_t)most);
  if (!pack) return oom_status(err, "the all-reduce's buffer");
  md->pack = pack;
  md->cappack = most;
  return GMMC_OK;
}

static gmmc_status reduce_point(void *user, Exec *e, const int *bufs, int nbufs, gmmc_status failed, char **err) {
  MpiDist *md = user;
  md->points++;
  take_pending(md, &failed, err);
  if (!failed && md->fault_rank == md->base.rank && strcmp(md->fault_where, "reduce") == 0 &&
      md->points == md->fault_point) {
    free(*err);
    *err = xasprintf("injected failure at reduce point %lld (GMMC_TEST_FAIL)", (long long)md->points);
    failed = GMMC_ERR_INTERNAL;
  }
  const Program *p = e->p;
  int64_t nsum, nmax, total = pack_size(p, bufs, nbufs, &nsum, &nmax);
  int mixed = nmax > 0;
  if (total > INT_MAX / 8) {
    free(*err);
    *err = xasprintf("a reduce point of %lld values is too large for one MPI message", (long long)total);
    return GMMC_ERR_INTERNAL; /* the same on every process: no one waits */
  }
  if (total > md->cappack) { /* prepare made room for every reduce point of the program */
    free(*err);
    *err = xasprintf("internal error: a reduce point of %lld values was not prepared", (long long)total);
    return GMMC_ERR_INTERNAL;
  }
  memset(md->pack, 0, sizeof(double) * (size_t)total);
  double *sum = md->pack + mixed, *flag = sum + nsum, *max = flag + 1;
  if (mixed) md->pack[0] = (double)(nsum + 1);
  for (int i = 0, s = 0, m = 0; i < nbufs && !failed; i++) {
    const Buffer *b = p->bufs[bufs[i]];
    int64_t n = buffer_elems(b, 0);
    double *at = b->stat_op == R_SUM ? sum + s : max + m;
    failed = exec_read(e, bufs[i], at, err);
    if (b->stat_op == R_MIN)
      for (int64_t j = 0; j < n; j++) at[j] = -at[j];
    if (b->stat_op == R_SUM)
      s += (int)n;
    else
      m += (int)n;
  }
  *flag = failed ? 1 : 0;
  if (md->base.profile) { /* waiting for the slowest process, apart from the transfer */
    double t0 = MPI_Wtime();
    MPI_Barrier(md->comm);
    md->base.prof.wait_s += MPI_Wtime() - t0;
  }
  double t0 = MPI_Wtime();
  int rc;
  if (!mixed) {
    rc = MPI_Allreduce(MPI_IN_PLACE, md->pack, (int)total, MPI_DOUBLE, MPI_SUM, md->comm);
  } else {
    MPI_Datatype t;
    rc = MPI_Type_contiguous((int)total, MPI_DOUBLE, &t);
    if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&t);
    if (rc == MPI_SUCCESS) {
      rc = MPI_Allreduce(MPI_IN_PLACE, md->pack, 1, t, md->packed, md->comm);
      MPI_Type_free(&t);
    }
  }
  md->base.prof.reduce_s += MPI_Wtime() - t0;
  md->base.prof.calls++;
  md->base.prof.bytes += total * (int64_t)sizeof(double);
  if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Allreduce");
  if (*flag > 0) return share_failure(md, failed, *flag >= md->base.size, err);
  for (int i = 0, s = 0, m = 0; i < nbufs; i++) {
    const Buffer *b = p->bufs[bufs[i]];
    int64_t n = buffer_elems(b, 0);
    double *at = b->stat_op == R_SUM ? sum + s : max + m;
    if (b->stat_op == R_MIN)
      for (int64_t j = 0; j < n; j++) at[j] = -at[j];
    char *werr = NULL;
    gmmc_status w = exec_write(e, bufs[i], at, &werr);
    if (w && !md->pending) { /* the others went on: tell them at the next collective */
      md->pending = w;
      md->pending_msg = werr;
    } else {
      free(werr);
    }
    if (b->stat_op == R_SUM)
      s += (int)n;
    else
      m += (int)n;
  }
  return GMMC_OK;
}

static void destroy(Dist *d) {
  MpiDist *md = (MpiDist *)d;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) {
    MPI_Op_free(&md->packed);
    MPI_Comm_free(&md->comm);
  }
  free(md->pending_msg);
  free(md->pack);
  free(md);
}

static const DistOps mpi_ops = {
    .allreduce = allreduce,
    .reduce_point = reduce_point,
    .agree = agree,
    .destroy = destroy,
    .prepare = prepare,
};

gmmc_status mpi_dist_create(MPI_Comm comm, Dist **out, char **err) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin) {
    *err = xstrdup("MPI is not initialized (call MPI_Init before gmmc_context_create_mpi, MPI_Finalize after "
                   "gmmc_context_destroy)");
    return GMMC_ERR_INVALID_ARGUMENT;
  }
  /* out of memory before the communicator is duplicated: the other
   * processes wait in MPI_Comm_dup (no agreement is possible yet) */
  MpiDist *md = xcalloc(1, sizeof *md);
  if (!md) return oom_status(err, "the MPI state");
  int rc = MPI_Comm_dup(comm, &md->comm);
  if (rc != MPI_SUCCESS) {
    free(md);
    return mpi_fail(err, rc, "MPI_Comm_dup");
  }
  /* failures come back as codes, and become gmmc errors */
  MPI_Comm_set_errhandler(md->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(md->comm, &md->base.rank);
  MPI_Comm_size(md->comm, &md->base.size);
  MPI_Comm local;
  rc = MPI_Comm_split_type(md->comm, MPI_COMM_TYPE_SHARED, md->base.rank, MPI_INFO_NULL, &local);
  if (rc == MPI_SUCCESS) {
    MPI_Comm_rank(local, &md->base.local_rank);
    MPI_Comm_size(local, &md->base.local_size);
    MPI_Comm_free(&local);
  } else {
    md->base.local_rank = 0;
    md->base.local_size = 1;
  }
  MPI_Op_create(packed_op, 1, &md->packed);
  md->fault_rank = -1;
  const char *fault = getenv("GMMC_TEST_FAIL");
  long long k = 0;
  if (fault && sscanf(fault, "%d:%15[a-z]:%lld", &md->fault_rank, md->fault_where, &k) < 2) md->fault_rank = -1;
  md->fault_point = k;
  md->base.ops = &mpi_ops;
  *out = &md->base;
  return GMMC_OK;
}

MPI_Comm mpi_dist_comm(const Dist *d) { return ((const MpiDist *)d)->comm; }

int mpi_dist_fault(const Dist *d, const char *where) {
  const MpiDist *md = (const MpiDist *)d;
  return md->fault_rank == d->rank && strcmp(md->fault_where, where) == 0;
}
