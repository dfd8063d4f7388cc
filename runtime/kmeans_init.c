#include "kmeans_init.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../dsl/shipped.h"

void data_row(const gmmc_data *d, int64_t row, double *out) {
  if (d->dtype == GMMC_FLOAT32) {
    const float *x = (const float *)d->values + row * d->cols;
    for (int64_t j = 0; j < d->cols; j++) out[j] = x[j];
  } else {
    memcpy(out, (const double *)d->values + row * d->cols, sizeof(double) * (size_t)d->cols);
  }
}

static double dist2(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

void kmeans_plusplus(const gmmc_data *d, int m, Rng *rng, int64_t *out) {
  int64_t n = d->rows, dim = d->cols;
  int64_t want = 50 * (int64_t)m > 10000 ? 50 * (int64_t)m : 10000;
  int64_t ns = n < want ? n : want;
  /* systematic sample with a random offset: spread over the whole file */
  double off = rng_uniform(rng);
  int64_t *rows = xmalloc(sizeof(int64_t) * (size_t)ns);
  double *x = xmalloc(sizeof(double) * (size_t)(ns * dim));
  for (int64_t i = 0; i < ns; i++) {
    rows[i] = ns == n ? i : (int64_t)(((double)i + off) * (double)n / (double)ns);
    if (rows[i] >= n) rows[i] = n - 1;
    data_row(d, rows[i], x + i * dim);
  }
  int trials = 2 + (int)log((double)m);
  double *closest = xmalloc(sizeof(double) * (size_t)ns);
  double *cand = xmalloc(sizeof(double) * (size_t)ns);
  double *best_d = xmalloc(sizeof(double) * (size_t)ns);
  int64_t first = (int64_t)rng_below(rng, (uint64_t)ns);
  out[0] = rows[first];
  double pot = 0;
  for (int64_t i = 0; i < ns; i++) pot += closest[i] = dist2(x + i * dim, x + first * dim, dim);
  for (int c = 1; c < m; c++) {
    double best_pot = INFINITY;
    int64_t best = 0;
    for (int t = 0; t < trials; t++) {
      /* draw an event with probability proportional to its squared distance */
      double r = rng_uniform(rng) * pot, acc = 0;
      int64_t pick = ns - 1;
      for (int64_t i = 0; i < ns; i++) {
        acc += closest[i];
        if (acc > r) {
          pick = i;
          break;
        }
      }
      double p = 0;
      for (int64_t i = 0; i < ns; i++) {
        double v = dist2(x + i * dim, x + pick * dim, dim);
        cand[i] = v < closest[i] ? v : closest[i];
        p += cand[i];
      }
      if (p < best_pot) {
        best_pot = p;
        best = pick;
        memcpy(best_d, cand, sizeof(double) * (size_t)ns);
      }
    }
    out[c] = rows[best];
    pot = best_pot;
    memcpy(closest, best_d, sizeof(double) * (size_t)ns);
  }
  free(rows);
  free(x);
  free(closest);
  free(cand);
  free(best_d);
}

gmmc_status kmeans_labels(gmmc_context *ctx, const gmmc_data *d, int m, LType real, Rng *rng, int32_t *labels) {
  const ShippedSpec *sh = shipped_spec("kmeans");
  SizeBinding sizes[2] = {{"M", m}, {"D", d->cols}};
  Compiled *c;
  gmmc_status s = ctx_compile(ctx, sh->file, sh->text, sizes, 2, real, &c);
  if (s) return s;
  char *err = NULL;
  Exec *e;
  if ((s = exec_create(ctx->be, c->p, c->bp, d->rows, &e, &err))) return ctx_fail_take(ctx, s, err);
  exec_set_events(e, d->rows, d->rows);
  int64_t *seeds = xmalloc(sizeof(int64_t) * (size_t)m);
  double *centers = xmalloc(sizeof(double) * (size_t)(m * d->cols));
  kmeans_plusplus(d, m, rng, seeds);
  for (int k = 0; k < m; k++) data_row(d, seeds[k], centers + k * d->cols);
  int cb = exec_find_buffer(e, "centers");
  int ob = c->p->tensor_buf[c->p->spec->objective->id];
  s = exec_bind_data(e, d, 0, &err);
  if (!s) s = exec_write(e, cb, centers, &err);
  double prev = -INFINITY;
  for (int it = 0; !s && it < 300; it++) {
    double obj;
    s = exec_run(e, SEQ_ITERATE, &err);
    if (!s) s = exec_read(e, ob, &obj, &err);
    if (s) break;
    /* the objective is -inertia: it only grows; stop when it barely does */
    if (obj - prev <= 1e-6 * fabs(obj)) break;
    prev = obj;
  }
  if (!s) s = exec_run(e, SEQ_ESTEP, &err);
  if (!s) s = exec_read_i32(e, c->p->tensor_buf[c->p->spec->predict->id], labels, &err);
  exec_destroy(e);
  free(seeds);
  free(centers);
  return s ? ctx_fail_take(ctx, s, err) : GMMC_OK;
}
