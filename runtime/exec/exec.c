#include "exec.h"

#include "compiler/codegen.h"
#include "graph.h"

#include <stdlib.h>
#include <string.h>

size_t exec_elem_size(LType t) { return t == LT_F64 || t == LT_I64 ? 8 : t == LT_BOOL ? 1 : 4; }

gmmc_status exec_create(Backend *be, const Program *p, BackendProgram *bp, int64_t capacity, Exec **out, char **err) {
  Exec *e = xcalloc(1, sizeof *e);
  if (!e) return oom_status(err, "an exec");
  e->be = be;
  e->p = p;
  e->bp = bp;
  e->capacity = capacity;
  e->dev = xcalloc((size_t)p->nbufs + 1, sizeof(void *));
  e->owned = xcalloc((size_t)p->nbufs + 1, 1);
  e->args = xcalloc((size_t)program_arg_slots(p) + 1, sizeof(uint64_t));
  e->choice = xcalloc((size_t)p->nunits + 1, sizeof(int));
  if (!e->dev || !e->owned || !e->args || !e->choice) {
    gmmc_status s = oom_status(err, "an exec's tables");
    exec_destroy(e);
    return s;
  }
  for (int u = 0; u < p->nunits; u++) e->choice[u] = p->units[u].forced >= 0 ? p->units[u].forced : 0;
  for (int i = 0; i < p->nbufs; i++) {
    const Buffer *b = p->bufs[i];
    if (b->kind == BK_DATA) continue;
    size_t bytes = (size_t)buffer_elems(b, capacity) * exec_elem_size(b->elem);
    gmmc_status s = be->ops->alloc(be, bytes ? bytes : 8, &e->dev[i], err);
    if (s) {
      exec_destroy(e);
      return s;
    }
    e->owned[i] = 1;
    e->args[i] = (uint64_t)(uintptr_t)e->dev[i];
  }
  exec_set_events(e, capacity, capacity);
  for (int i = 0; i < p->spec->scalars.len; i++) exec_set_scalar(e, i, spec_scalar(p->spec, i)->value);
  *out = e;
  return GMMC_OK;
}

void exec_destroy(Exec *e) {
  if (!e) return;
  graph_free(e);
  for (int i = 0; i < e->p->nbufs && e->owned; i++)
    if (e->owned[i]) e->be->ops->release(e->be, e->dev[i]);
  free(e->dev);
  free(e->owned);
  free(e->args);
  free(e->choice);
  free(e->deferred);
  free(e);
}

void exec_set_events(Exec *e, int64_t n_local, int64_t n_total) {
  e->n_local = n_local;
  e->n_total = n_total;
  int nb = e->p->nbufs;
  memcpy(&e->args[nb], &n_local, 8);
  memcpy(&e->args[nb + 1], &n_total, 8);
}

void exec_set_scalar(Exec *e, int id, double value) {
  memcpy(&e->args[e->p->nbufs + 2 + id], &value, 8);
  e->once_stale = 1;
}

/* The events' buffer: the first data tensor (an optional one is [N] and
 * never first). */
static int data_buffer(const Program *p) {
  for (int i = 0; i < p->nbufs; i++)
    if (p->bufs[i]->kind == BK_DATA && !(p->bufs[i]->tensor && p->bufs[i]->tensor->optional)) return i;
  return -1;
}

int exec_weight_buffer(const Program *p) {
  if (p->spec->weights_absent) return -1;
  for (int i = 0; i < p->nbufs; i++)
    if (p->bufs[i]->kind == BK_DATA && p->bufs[i]->tensor && p->bufs[i]->tensor->optional) return i;
  return -1;
}

/* Binds `count` values of src (float32 or float64) to buffer b: borrowed
 * when the backend shares host memory and the element type matches, else
 * converted and copied into a buffer of `capacity` values. */
static gmmc_status bind_values(Exec *e, int b, const void *src, gmmc_dtype dtype, int64_t count, int64_t capacity,
                               char **err) {
  LType want = e->p->bufs[b]->elem;
  int same = (want == LT_F32 && dtype == GMMC_FLOAT32) || (want == LT_F64 && dtype == GMMC_FLOAT64);
  if (same && e->be->host_memory && ((uintptr_t)src & 15) == 0) {
    if (e->owned[b]) e->be->ops->release(e->be, e->dev[b]);
    e->owned[b] = 0;
    e->dev[b] = (void *)src;
    e->args[b] = (uint64_t)(uintptr_t)src;
    return GMMC_OK;
  }
  if (!e->owned[b]) {
    size_t bytes = (size_t)capacity * exec_elem_size(want);
    gmmc_status s = e->be->ops->alloc(e->be, bytes ? bytes : 8, &e->dev[b], err);
    if (s) return s;
    e->owned[b] = 1;
    e->args[b] = (uint64_t)(uintptr_t)e->dev[b];
  }
  return exec_upload_values(e->be, e->dev[b], src, dtype, want, count, err);
}

gmmc_status exec_upload_values(Backend *be, void *dev, const void *src, gmmc_dtype dtype, LType want, int64_t count,
                               char **err) {
  size_t esz = dtype == GMMC_FLOAT32 ? 4 : 8;
  if ((want == LT_F32) == (dtype == GMMC_FLOAT32)) return be->ops->upload(be, dev, src, (size_t)count * esz, err);
  /* convert in slices so that the staging copy stays small */
  const int64_t slice = 1 << 20;
  void *tmp = xmalloc((size_t)slice * exec_elem_size(want));
  if (!tmp) return oom_status(err, "converting the data");
  gmmc_status s = GMMC_OK;
  for (int64_t at = 0; at < count && !s; at += slice) {
    int64_t n = count - at < slice ? count - at : slice;
    if (want == LT_F32)
      for (int64_t i = 0; i < n; i++) ((float *)tmp)[i] = (float)((const double *)src)[at + i];
    else
      for (int64_t i = 0; i < n; i++) ((double *)tmp)[i] = (double)((const float *)src)[at + i];
    s = be->ops->upload(be, (char *)dev + (size_t)at * exec_elem_size(want), tmp, (size_t)n * exec_elem_size(want),
                        err);
  }
  free(tmp);
  return s;
}

/* Device data (gmmc_data_wrap_device) in the GPU's memory: borrowed where
 * it is row-major, of the program's type and aligned as the kernels' vector
 * loads want; else gathered into the exec's own buffer on the device. Never
 * converted (that would need a kernel) nor copied through the host. */
static gmmc_status bind_device(Exec *e, int b, const gmmc_data *d, int64_t row0, char **err) {
  Backend *be = e->be;
  LType want = e->p->bufs[b]->elem;
  if (!be->ops->gather || be->ordinal != d->device) {
    *err = xasprintf("the data is in the memory of GPU %d but the fit runs on %s", d->device,
                     be->ordinal < 0 ? "the host" : "another GPU");
    return GMMC_ERR_INVALID_ARGUMENT;
  }
  if ((want == LT_F32) != (d->dtype == GMMC_FLOAT32)) {
    *err = xasprintf("the device data is %s but the kernels are %s: device data is read in place, never converted "
                     "(pass %s data, or set the dtype to %s)",
                     d->dtype == GMMC_FLOAT32 ? "float32" : "float64", want == LT_F32 ? "float32" : "float64",
                     want == LT_F32 ? "float32" : "float64", d->dtype == GMMC_FLOAT32 ? "float32" : "float64");
    return GMMC_ERR_INVALID_ARGUMENT;
  }
  gmmc_status s = d->stream ? be->ops->wait_stream(be, d->stream, err) : GMMC_OK;
  if (s) return s;
  size_t esz = d->dtype == GMMC_FLOAT32 ? 4 : 8;
  const char *src = (const char *)d->values + (size_t)row0 * (size_t)d->row_stride * esz;
  int rowmajor = d->col_stride == 1 && (d->row_stride == d->cols || e->n_local <= 1);
  if (rowmajor && ((uintptr_t)src & 15) == 0) {
    if (e->owned[b]) be->ops->release(be, e->dev[b]);
    e->owned[b] = 0;
    e->dev[b] = (void *)src;
    e->args[b] = (uint64_t)(uintptr_t)src;
    return GMMC_OK;
  }
  if (!e->owned[b]) {
    size_t bytes = (size_t)e->capacity * (size_t)d->cols * esz;
    if ((s = be->ops->alloc(be, bytes ? bytes : 8, &e->dev[b], err))) return s;
    e->owned[b] = 1;
    e->args[b] = (uint64_t)(uintptr_t)e->dev[b];
  }
  return be->ops->gather(be, e->dev[b], src, esz, e->n_local, d->cols, d->row_stride, d->col_stride, err);
}

gmmc_status exec_bind_data(Exec *e, const gmmc_data *data, int64_t row0, char **err) {
  const Program *p = e->p;
  int b = data_buffer(p);
  if (b < 0) {
    *err = xstrdup("the spec declares no data");
    return GMMC_ERR_INVALID_ARGUMENT;
  }
  const Buffer *buf = p->bufs[b];
  int64_t per_event = buffer_elems(buf, 1);
  if (per_event != data->cols) {
    *err =
        xasprintf("the data has %lld columns but the model expects %lld", (long long)data->cols, (long long)per_event);
    return GMMC_ERR_INVALID_ARGUMENT;
  }
  size_t esz = data->dtype == GMMC_FLOAT32 ? 4 : 8;
  const char *src = (const char *)data->values + (size_t)row0 * (size_t)data->cols * esz;
  e->once_stale = 1;
  gmmc_status s = data->on_device
                      ? bind_device(e, b, data, row0, err)
                      : bind_values(e, b, src, data->dtype, e->n_local * data->cols, e->capacity * data->cols, err);
  int wb = exec_weight_buffer(p);
  if (s || wb < 0) return s;
  if (!data->weights) {
    *err = xstrdup("the program reads per-event weights but the data carries none");
    return GMMC_ERR_INVALID_ARGUMENT;
  }
  return bind_values(e, wb, data->weights + row0, GMMC_FLOAT64, e->n_local, e->capacity, err);
}

/* memcpy: raw may be a copy's bytes at any alignment */
double exec_value(LType t, const void *raw, int64_t i) {
  const char *at = (const char *)raw + (size_t)i * exec_elem_size(t);
  switch (t) {
  case LT_F32: {
    float v;
    memcpy(&v, at, sizeof v);
    return v;
  }
  case LT_F64: {
    double v;
    memcpy(&v, at, sizeof v);
    return v;
  }
  case LT_I32: {
    int32_t v;
    memcpy(&v, at, sizeof v);
    return v;
  }
  default: {
    int64_t v;
    memcpy(&v, at, sizeof v);
    return (double)v;
  }
  }
}

static gmmc_status transfer_range(Exec *e, int buf, int64_t first, int64_t n, void *host, int to_device, int as_int,
                                  char **err) {
  const Buffer *b = e->p->bufs[buf];
  size_t esz = exec_elem_size(b->elem);
  char *dev = (char *)e->dev[buf] + (size_t)first * esz;
  void *tmp = xmalloc((size_t)n * esz + 8);
  if (!tmp) return oom_status(err, "a transfer's staging copy");
  gmmc_status s = GMMC_OK;
  if (to_device) {
    for (int64_t i = 0; i < n; i++) {
      double v = as_int ? ((const int32_t *)host)[i] : ((const double *)host)[i];
      switch (b->elem) {
      case LT_F32: ((float *)tmp)[i] = (float)v; break;
      case LT_F64: ((double *)tmp)[i] = v; break;
      case LT_I32: ((int32_t *)tmp)[i] = (int32_t)v; break;
      default: ((int64_t *)tmp)[i] = (int64_t)v; break;
      }
    }
    s = e->be->ops->upload(e->be, dev, tmp, (size_t)n * esz, err);
  } else {
    s = e->be->ops->download(e->be, tmp, dev, (size_t)n * esz, err);
    for (int64_t i = 0; !s && i < n; i++) {
      double v = exec_value(b->elem, tmp, i);
      if (as_int)
        ((int32_t *)host)[i] = (int32_t)v;
      else
        ((double *)host)[i] = v;
    }
  }
  free(tmp);
  return s;
}

static gmmc_status transfer(Exec *e, int buf, void *host, int to_device, int as_int, char **err) {
  return transfer_range(e, buf, 0, buffer_elems(e->p->bufs[buf], e->n_local), host, to_device, as_int, err);
}

gmmc_status exec_write_range(Exec *e, int buf, int64_t first, int64_t count, const double *values, char **err) {
  return transfer_range(e, buf, first, count, (void *)values, 1, 0, err);
}

int exec_find_buffer(const Exec *e, const char *name) {
  for (int i = 0; i < e->p->nbufs; i++) {
    const Buffer *b = e->p->bufs[i];
    if (b->tensor && strcmp(b->tensor->name, name) == 0) return i;
  }
  return -1;
}

gmmc_status exec_write(Exec *e, int buf, const double *values, char **err) {
  return transfer(e, buf, (void *)values, 1, 0, err);
}
gmmc_status exec_read(Exec *e, int buf, double *values, char **err) { return transfer(e, buf, values, 0, 0, err); }
gmmc_status exec_write_i32(Exec *e, int buf, const int32_t *values, char **err) {
  return transfer(e, buf, (void *)values, 1, 1, err);
}
gmmc_status exec_read_i32(Exec *e, int buf, int32_t *values, char **err) { return transfer(e, buf, values, 0, 1, err); }

gmmc_status exec_run_kernel(Exec *e, int kernel, char **err) {
  const Kernel *k = e->p->kernels[kernel];
  if (k->launch == LAUNCH_GRID) {
    int64_t grid[3];
    for (int a = 0; a < 3; a++) grid[a] = kernel_grid(k, a, e->n_local);
    return e->be->ops->launch(e->be, e->bp, kernel, 0, grid, e->args, err);
  }
  int64_t count = kernel_count(k, e->n_local);
  if (count <= 0) return GMMC_OK;
  return e->be->ops->launch(e->be, e->bp, kernel, count, NULL, e->args, err);
}

gmmc_status exec_run_unit(Exec *e, int unit, char **err) {
  const Alt *a = &e->p->units[unit].alts[e->choice[unit]];
  for (int i = 0; i < a->nkernels; i++) {
    gmmc_status s = exec_run_kernel(e, a->kernels[i], err);
    if (s) return s;
  }
  /* a fusion group run unfused: its members, each as chosen */
  for (int i = 0; i < a->nmembers; i++) {
    gmmc_status s = exec_run_unit(e, a->members[i], err);
    if (s) return s;
  }
  return GMMC_OK;
}

/* A unit of SEQ_ONCE that computes a per-event once buffer (not a
 * statistic's partial sums, which the statistics' pass needs alone). */
static int event_once_unit(const Program *p, int unit) {
  const Buffer *b = p->bufs[p->units[unit].out_buf];
  return b->once && b->event;
}

gmmc_status exec_refresh_once(Exec *e, char **err) {
  if (!e->once_stale) return GMMC_OK;
  const Sequence *q = &e->p->seq[SEQ_ONCE];
  for (int i = 0; i < q->len; i++) {
    if (q->steps[i].kind != STEP_UNIT || !event_once_unit(e->p, q->steps[i].unit)) continue;
    gmmc_status s = exec_run_unit(e, q->steps[i].unit, err);
    if (s) return s;
  }
  e->once_stale = 0;
  return GMMC_OK;
}

gmmc_status exec_run(Exec *e, SeqId seq, char **err) {
  gmmc_status failed = GMMC_OK;
  /* the sequences that read data read the per-event once buffers too */
  if (seq != SEQ_ONCE && seq != SEQ_DERIVED) failed = exec_refresh_once(e, err);
  if (!failed && graph_run(e, seq, &failed, err)) return failed;
  const Sequence *s = &e->p->seq[seq];
  for (int i = 0; i < s->len; i++) {
    const Step *st = &s->steps[i];
    if (st->kind == STEP_UNIT) {
      if (!failed) failed = exec_run_unit(e, st->unit, err);
    } else if (e->hook.fn) {
      gmmc_status r = e->hook.fn(e->hook.user, e, st->bufs, st->nbufs, failed, err);
      if (r) return r;
    } else if (failed) {
      return failed;
    }
  }
  if (seq == SEQ_ONCE && !failed) e->once_stale = 0; /* it computed the per-event ones too */
  return failed;
}

gmmc_status exec_reset_status(Exec *e, char **err) {
  int b = e->p->status_buf;
  return e->be->ops->fill_u32(e->be, e->dev[b], 0x7fffffffu, (size_t)buffer_elems(e->p->bufs[b], 0), err);
}

int exec_status_words(const Exec *e) {
  int64_t n = buffer_elems(e->p->bufs[e->p->status_buf], 0);
  return n < EXEC_STATUS_WORDS ? (int)n : EXEC_STATUS_WORDS;
}

void exec_status_find(const Exec *e, const int32_t *words, int *slot, int *code) {
  *slot = -1;
  *code = 0;
  for (int i = 0; i < exec_status_words(e) && i < e->p->nbuiltins; i++)
    if (words[i] != 0x7fffffff) {
      *slot = i;
      *code = words[i];
      return;
    }
}

gmmc_status exec_check_status(Exec *e, int *slot, int *code, char **err) {
  int32_t v[EXEC_STATUS_WORDS];
  gmmc_status s = e->be->ops->download(e->be, v, e->dev[e->p->status_buf], (size_t)exec_status_words(e) * 4, err);
  if (s) return s;
  exec_status_find(e, v, slot, code);
  return GMMC_OK;
}
