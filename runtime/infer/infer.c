/* Inference with a trained model: the spec's E-step over the data in chunks
 * (exec/stream.h: bounded memory whatever the number of events), reading the
 * outputs the spec names: predict (labels), predict_proba
 * (responsibilities), score_samples (per-event log-likelihood), each
 * computed with only the steps it needs, and the objective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "runtime/exec/autotune.h"
#include "runtime/exec/compile.h"
#include "runtime/exec/stream.h"
#include "runtime/fit/params.h"
#include "runtime/io/data.h"
#include "runtime/io/data_spec.h"
#include "runtime/model/model.h"

gmmc_status infer_check_len(gmmc_context *ctx, const char *fn, const char *arg, int64_t len, int64_t rows,
                            int64_t per) {
  /* rows * per <= len, without the product overflowing */
  if (len >= 0 && (per <= 0 || rows <= len / per)) return GMMC_OK;
  int64_t need;
  if (per == 1)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: %s holds %lld values but %lld are needed", fn, arg,
                    (long long)len, (long long)rows);
  if (__builtin_mul_overflow(rows, per, &need))
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: %s holds %lld values but %lld x %lld are needed", fn, arg,
                    (long long)len, (long long)rows, (long long)per);
  return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: %s holds %lld values but %lld x %lld = %lld are needed", fn, arg,
                  (long long)len, (long long)rows, (long long)per, (long long)need);
}

typedef enum { OUT_LABELS, OUT_PROBA, OUT_SAMPLES, OUT_OBJECTIVE } Output;

/* out holds out_len elements (unused for OUT_OBJECTIVE); fn and arg name the
 * caller and its array in messages. */
static gmmc_status run_estep(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, Output what, void *out,
                             int64_t out_len, const char *fn, const char *arg, double *objective) {
  if (!ctx || !m || !data) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "a NULL argument");
  if (data->cols != m->n_features)
    return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "the data has %lld features, but the model expects %d",
                    (long long)data->cols, m->n_features);
  /* before compiling: a short array fails fast, whatever else is wrong */
  gmmc_status s;
  int64_t width = what == OUT_PROBA ? m->n_components : 1; /* values per event the caller's array takes */
  if (what != OUT_OBJECTIVE && (s = infer_check_len(ctx, fn, arg, out_len, data->rows, width))) return s;
  if (data->rows < 1) return ctx_fail(ctx, GMMC_ERR_DATA, "the data has no events");
  int64_t r, c;
  if (data_find_nonfinite(data, &r, &c))
    return ctx_fail(ctx, GMMC_ERR_DATA, "the data holds a non-finite value (NaN or infinity) at row %lld, column %lld",
                    (long long)r + 1, (long long)c + 1);
  SizeBinding sizes[16];
  int ns = m->nsizes < 16 ? m->nsizes : 16;
  for (int i = 0; i < ns; i++) sizes[i] = (SizeBinding){m->size_names[i], m->size_values[i]};
  LType real = m->dtype == GMMC_FLOAT64 ? LT_F64 : LT_F32;
  if (ctx->kind == GMMC_BACKEND_HOST && data->dtype == GMMC_FLOAT64) real = LT_F64;
  Compiled *cp;
  s = ctx_compile(ctx, m->spec_file, m->spec_text, sizes, ns, real, data->rows, &cp);
  if (s) return s;
  const Program *p = cp->p;
  char *err = NULL;
  if ((s = data_check_spec(data, p->spec, 0, &err))) return ctx_fail_take(ctx, s, err);
  err = NULL;
  Spec *spec = p->spec;
  Tensor *t = what == OUT_LABELS    ? spec->predict
              : what == OUT_PROBA   ? spec->predict_proba
              : what == OUT_SAMPLES ? spec->score_samples
                                    : spec->objective;
  static const char *const role[] = {"predict", "predict_proba", "score_samples", "objective"};
  if (!t) return ctx_fail(ctx, GMMC_ERR_SPEC, "the spec %s has no '%s' output", spec->model, role[what]);
  /* chunks of at most 256 MiB of per-event buffers, whatever the number of events */
  int64_t chunk = stream_chunk_events(ctx->be, p, 0, data->rows, (size_t)256 << 20);
  Stream *st;
  if ((s = stream_create(ctx->be, p, cp->bp, data, data->rows, chunk, &st, &err))) return ctx_fail_take(ctx, s, err);
  Exec *e = stream_exec(st);
  int known;
  if ((s = autotune_apply_known(ctx, e, &known)) || (s = em_load_params(ctx, e, m))) {
    stream_destroy(st);
    return s;
  }
  int b = p->tensor_buf[t->id];
  int64_t per_event = t->rank ? buffer_elems(p->bufs[b], 1) : 0;
  /* model_file_check_spec keeps per_event at what the check above assumed;
   * should the spec disagree all the same, write nothing */
  if (what != OUT_OBJECTIVE && per_event > width) {
    stream_destroy(st);
    return ctx_fail(ctx, GMMC_ERR_INTERNAL, "%s: the spec's %s output has %lld values per event, the model %lld", fn,
                    role[what], (long long)per_event, (long long)width);
  }
  double total = 0;
  if (what == OUT_OBJECTIVE) {
    s = stream_run(st, SEQ_ESTEP, NULL, NULL, &err);
    if (!s) s = exec_read(e, b, &total, &err);
  }
  /* per-event outputs: only the steps they need, chunk by chunk */
  for (int64_t row0 = 0; what != OUT_OBJECTIVE && row0 < data->rows && !s; row0 += chunk) {
    int64_t n = data->rows - row0 < chunk ? data->rows - row0 : chunk;
    s = stream_eval(st, SEQ_ESTEP, b, row0, n, &err);
    if (s) break;
    if (what == OUT_LABELS)
      s = exec_read_i32(e, b, (int32_t *)out + row0, &err);
    else
      s = exec_read(e, b, (double *)out + row0 * per_event, &err);
  }
  stream_destroy(st);
  if (s) return ctx_fail_take(ctx, s, err);
  if (objective) *objective = total;
  return GMMC_OK;
}

gmmc_status gmmc_predict(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, int32_t *labels,
                         int64_t labels_len) {
  if (!labels) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_predict: labels is NULL");
  return run_estep(ctx, m, data, OUT_LABELS, labels, labels_len, "gmmc_predict", "labels", NULL);
}

gmmc_status gmmc_predict_proba(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, double *proba,
                               int64_t proba_len) {
  if (!proba) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_predict_proba: proba is NULL");
  return run_estep(ctx, m, data, OUT_PROBA, proba, proba_len, "gmmc_predict_proba", "proba", NULL);
}

gmmc_status gmmc_score_samples(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, double *log_prob,
                               int64_t log_prob_len) {
  if (!log_prob) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_score_samples: log_prob is NULL");
  return run_estep(ctx, m, data, OUT_SAMPLES, log_prob, log_prob_len, "gmmc_score_samples", "log_prob", NULL);
}

gmmc_status gmmc_score(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, double *score) {
  if (!score) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_score: score is NULL");
  double total;
  gmmc_status s = run_estep(ctx, m, data, OUT_OBJECTIVE, NULL, 0, "gmmc_score", NULL, &total);
  if (!s) *score = total / (double)data->rows;
  return s;
}

static gmmc_status criterion(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, double per_param,
                             double *out) {
  double score;
  gmmc_status s = gmmc_score(ctx, m, data, &score);
  if (s) return s;
  double n = (double)data->rows;
  *out = -2 * score * n + (per_param > 0 ? per_param : log(n)) * m->n_parameters;
  return GMMC_OK;
}

gmmc_status gmmc_bic(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, double *bic) {
  if (!bic) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_bic: bic is NULL");
  return criterion(ctx, m, data, 0, bic);
}

gmmc_status gmmc_aic(gmmc_context *ctx, const gmmc_model *m, const gmmc_data *data, double *aic) {
  if (!aic) return ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "gmmc_aic: aic is NULL");
  return criterion(ctx, m, data, 2, aic);
}
