#include "kmeans_init.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/shipped.h"
#include "runtime/exec/autotune.h"
#include "runtime/exec/compile.h"

static double dist2(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

gmmc_status gather_rows(gmmc_context *ctx, const FitData *fd, const int64_t *rows, int64_t n, double *out) {
  const gmmc_data *d = fd->data;
  /* reading a row maps its neighbours too (the kernel's fault-around, 64 KiB):
   * when streaming, a sample spread over a mapped file would make most of it
   * resident; drop 128 KiB on either side after each row */
  int drop = fd->st && stream_chunks(fd->st) > 1;
  int64_t near = (128 << 10) / (d->cols * (d->dtype == GMMC_FLOAT32 ? 4 : 8)) + 1;
  for (int64_t i = 0; i < n; i++) {
    int64_t local = rows[i] - fd->row0;
    if (local >= 0 && local < d->rows) {
      data_row_f64(d, local, out + i * d->cols);
      int64_t lo = local > near ? local - near : 0, hi = local + near < d->rows ? local + near : d->rows;
      if (drop) data_drop_pages(d, lo, hi - lo);
    } else {
      memset(out + i * d->cols, 0, sizeof(double) * (size_t)d->cols);
    }
  }
  char *err = NULL;
  gmmc_status s = dist_allreduce(ctx->dist, out, n * d->cols, R_SUM, &err);
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}

gmmc_status gather_weights(gmmc_context *ctx, const FitData *fd, const int64_t *rows, int64_t n, double *out) {
  const gmmc_data *d = fd->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t local = rows[i] - fd->row0;
    out[i] = !d->weights ? 1.0 : local >= 0 && local < d->rows ? d->weights[local] : 0.0;
  }
  if (!d->weights) return GMMC_OK;
  char *err = NULL;
  gmmc_status s = dist_allreduce(ctx->dist, out, n, R_SUM, &err);
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}

/* The first i with cum[i] > t, else the last of positive weight: an event
 * drawn in proportion to the terms that cum adds up. */
static int64_t draw_cumulative(const double *terms, const double *w, int64_t n, double t) {
  double acc = 0;
  int64_t last = n - 1;
  for (int64_t i = 0; i < n; i++) {
    acc += w[i] * terms[i];
    if (acc > t) return i;
    if (w[i] > 0) last = i;
  }
  return last;
}

/* The first center: an event in proportion to its weight. Integer weights
 * draw rng_below of their sum, so that the event drawn is the one that the
 * rows repeated would give (and, with no weights, the unweighted draw). */
static int64_t draw_first(Rng *rng, const double *w, int64_t n) {
  double total = 0;
  int integral = 1;
  for (int64_t i = 0; i < n; i++) {
    total += w[i];
    integral = integral && w[i] == floor(w[i]);
  }
  double t = integral && total < 0x1p53 ? (double)rng_below(rng, (uint64_t)total) : rng_uniform(rng) * total;
  double acc = 0;
  int64_t last = n - 1;
  for (int64_t i = 0; i < n; i++) {
    acc += w[i];
    if (acc > t) return i;
    if (w[i] > 0) last = i;
  }
  return last;
}

gmmc_status kmeans_plusplus(gmmc_context *ctx, const FitData *fd, int m, Rng *rng, int64_t *out, double *centers) {
  int64_t n = fd->n_total, dim = fd->data->cols;
  int64_t want = 50 * (int64_t)m > 10000 ? 50 * (int64_t)m : 10000;
  int64_t ns = n < want ? n : want;
  /* systematic sample with a random offset: spread over the whole file */
  double off = rng_uniform(rng);
  int64_t *rows = xmalloc(sizeof(int64_t) * (size_t)ns);
  double *x = xmalloc(sizeof(double) * (size_t)(ns * dim));
  double *w = xmalloc(sizeof(double) * (size_t)ns); /* 1 each without weights: the same bits */
  /* agreed before the gathers, which are collectives with MPI */
  double *closest = NULL, *cand = NULL, *best_d = NULL;
  gmmc_status s = ctx_agree(ctx, rows && x && w ? GMMC_OK : ctx_oom(ctx, "the k-means++ sample"), NULL, 0);
  if (s) goto done;
  for (int64_t i = 0; i < ns; i++) {
    rows[i] = ns == n ? i : (int64_t)(((double)i + off) * (double)n / (double)ns);
    if (rows[i] >= n) rows[i] = n - 1;
  }
  s = gather_rows(ctx, fd, rows, ns, x);
  if (!s) s = gather_weights(ctx, fd, rows, ns, w);
  if (s) goto done;
  int trials = 2 + (int)log((double)m);
  closest = xmalloc(sizeof(double) * (size_t)ns);
  cand = xmalloc(sizeof(double) * (size_t)ns);
  best_d = xmalloc(sizeof(double) * (size_t)ns);
  if (!closest || !cand || !best_d) {
    s = ctx_oom(ctx, "the k-means++ distances");
    goto done;
  }
  int64_t first = draw_first(rng, w, ns);
  out[0] = rows[first];
  if (centers) memcpy(centers, x + first * dim, sizeof(double) * (size_t)dim);
  double pot = 0;
  for (int64_t i = 0; i < ns; i++) pot += w[i] * (closest[i] = dist2(x + i * dim, x + first * dim, dim));
  for (int c = 1; c < m; c++) {
    double best_pot = INFINITY;
    int64_t best = 0;
    for (int t = 0; t < trials; t++) {
      /* draw an event with probability proportional to its weighted squared distance */
      int64_t pick = draw_cumulative(closest, w, ns, rng_uniform(rng) * pot);
      double p = 0;
      for (int64_t i = 0; i < ns; i++) {
        double v = dist2(x + i * dim, x + pick * dim, dim);
        cand[i] = v < closest[i] ? v : closest[i];
        p += w[i] * cand[i];
      }
      if (p < best_pot) {
        best_pot = p;
        best = pick;
        memcpy(best_d, cand, sizeof(double) * (size_t)ns);
      }
    }
    out[c] = rows[best];
    if (centers) memcpy(centers + c * dim, x + best * dim, sizeof(double) * (size_t)dim);
    pot = best_pot;
    memcpy(closest, best_d, sizeof(double) * (size_t)ns);
  }
done:
  free(rows);
  free(x);
  free(w);
  free(closest);
  free(cand);
  free(best_d);
  return s;
}

struct KMeans {
  Stream *st;
  int label_buf;
};

gmmc_status kmeans_fit(gmmc_context *ctx, const FitData *fd, int m, LType real, Rng *rng, KMeans **out) {
  *out = NULL;
  const ShippedSpec *sh = shipped_spec("kmeans");
  SizeBinding sizes[2] = {{"M", m}, {"D", fd->data->cols}};
  KMeans *km = xcalloc(1, sizeof *km);
  if (!km) return ctx_agree(ctx, ctx_oom(ctx, "k-means"), NULL, 0);
  Compiled *c = NULL;
  char *err = NULL;
  gmmc_status s = ctx_compile_weighted(ctx, sh->file, sh->text, sizes, 2, real, fd->chunk, fd->data->weights != NULL,
                                       PRECISION_FLOAT32, &c);
  if (!s && (s = stream_create(ctx->be, c->p, c->bp, fd->stream_data, fd->n_total, fd->chunk, &km->st, &err)))
    ctx_fail_take(ctx, s, err);
  if ((s = ctx_agree(ctx, s, NULL, 0))) {
    kmeans_free(km);
    return s;
  }
  Exec *e = stream_exec(km->st);
  if ((s = dist_attach(ctx->dist, e, &err))) ctx_fail_take(ctx, s, err);
  if ((s = ctx_agree(ctx, s, NULL, 0))) {
    kmeans_free(km);
    return s;
  }
  int known = 0; /* k-means has code variants too: cached choices from the start */
  if ((s = ctx_agree(ctx, autotune_apply_known(ctx, e, &known), NULL, 0))) {
    kmeans_free(km);
    return s;
  }
  km->label_buf = c->p->tensor_buf[c->p->spec->predict->id];
  int64_t *seeds = xmalloc(sizeof(int64_t) * (size_t)m);
  double *centers = xmalloc(sizeof(double) * (size_t)(m * fd->data->cols));
  s = seeds && centers ? kmeans_plusplus(ctx, fd, m, rng, seeds, centers) : ctx_oom(ctx, "the k-means centers");
  if (!s && (s = exec_write(e, exec_find_buffer(e, "centers"), centers, &err))) ctx_fail_take(ctx, s, err);
  s = ctx_agree(ctx, s, NULL, 0);
  int ob = c->p->tensor_buf[c->p->spec->objective->id];
  double prev = -INFINITY;
  for (int it = 0; !s && it < 300; it++) {
    double obj = 0;
    err = NULL;
    s = stream_run(km->st, SEQ_ITERATE, NULL, NULL, &err);
    if (!s) s = exec_read(e, ob, &obj, &err);
    if (s) ctx_fail_take(ctx, s, err);
    /* the same objective everywhere, so that every process stops together */
    if ((s = ctx_agree(ctx, s, &obj, 1))) break;
    /* otherwise chosen on real data once the buffers hold an iteration */
    if (it == 0 && (s = ctx_agree(ctx, known ? GMMC_OK : autotune_stream(ctx, km->st), NULL, 0))) break;
    if ((s = autotune_poll(ctx, e))) break;
    /* the objective is -inertia: it only grows; stop when it barely does */
    if (obj - prev <= 1e-6 * fabs(obj)) break;
    prev = obj;
  }
  free(seeds);
  free(centers);
  if (s) {
    kmeans_free(km);
    return s;
  }
  *out = km;
  return GMMC_OK;
}

gmmc_status kmeans_labels(KMeans *km, int64_t row0, int64_t n, int32_t *labels, char **err) {
  gmmc_status s = stream_eval(km->st, SEQ_ESTEP, km->label_buf, row0, n, err);
  return s ? s : exec_read_i32(stream_exec(km->st), km->label_buf, labels, err);
}

void kmeans_free(KMeans *km) {
  if (!km) return;
  stream_destroy(km->st);
  free(km);
}
