#include "stream.h"

#include <stdlib.h>
#include <string.h>

/* A copy of a buffer without the event axis as it was after step `version`
 * of a sequence (-1: at its start), for per-event steps re-run after a
 * later step overwrote it. */
typedef struct {
  int buf, version;
  void *dev;
} Snap;

/* A sequence's steps from one reduce point to the next. */
typedef struct {
  int *small, nsmall; /* positions of the units run once, in order */
  int *event, nevent; /* positions of the units run per chunk (recomputed ones too), in order */
  int *swap_off;      /* per event unit: its snapshots are swaps[swap_off[j] .. swap_off[j + 1]) */
  int *swaps;
  int reduce; /* position of the reduce step ending the phase, -1 for the last phase */
  int fill;   /* reads per-event values no step produces */
} Phase;

typedef struct {
  int built;
  Phase *phases;
  int nphases;
  Snap *snaps;
  int nsnaps;
} Plan;

struct Stream {
  Exec *e;
  const gmmc_data *data;
  int64_t n_local, n_total, chunk;
  int64_t bound_row0, bound_n;   /* rows bound to the data buffer now; bound_n < 0: none */
  unsigned char *reads, *writes; /* per unit and buffer, over all of the unit's alternatives */
  unsigned char *event;          /* per unit: touches a per-event buffer */
  Plan plans[SEQ_COUNT];
  double *acc, *tmp;
  int64_t capacc;
  Arena tables; /* reads/writes/event and the plans; out of memory escapes from it */
};

/* Per-event bytes; the data's only when it is copied per chunk. */
static size_t event_bytes(const Backend *be, const Program *p, int data_in_place) {
  size_t per = 0;
  for (int b = 0; b < p->nbufs; b++) {
    const Buffer *buf = p->bufs[b];
    if (!buf->event || (buf->kind == BK_DATA && (be->host_memory || data_in_place))) continue;
    if (buf->tensor && buf->tensor->optional && p->spec->weights_absent) continue; /* never bound */
    per += (size_t)buffer_elems(buf, 1) * exec_elem_size(buf->elem);
  }
  return per;
}

size_t stream_event_bytes(const Backend *be, const Program *p) { return event_bytes(be, p, 0); }

/* resident: bytes of data already in the backend's memory, read in place */
static int64_t chunk_events(const Backend *be, const Program *p, int64_t requested, int64_t n_local, size_t cap_bytes,
                            size_t resident) {
  int64_t c = requested;
  const char *env = getenv("GMMC_CHUNK_EVENTS");
  if (c <= 0 && env && *env) {
    char *end;
    long long v = strtoll(env, &end, 10);
    if (!*end && v > 0) c = v;
  }
  if (c <= 0) {
    size_t per = event_bytes(be, p, resident > 0), fixed = resident;
    for (int b = 0; b < p->nbufs; b++)
      if (!p->bufs[b]->event) fixed += (size_t)buffer_elems(p->bufs[b], 0) * exec_elem_size(p->bufs[b]->elem);
    double budget = be->memory_bytes ? 0.4 * (double)be->memory_bytes - (double)fixed : 0;
    if (be->memory_bytes && budget < (double)(64u << 20)) budget = 64u << 20;
    /* the host: per-event buffers of at most the target's chunk_bytes */
    if (be->host_memory && be->target.chunk_bytes > 0 && (budget <= 0 || (double)be->target.chunk_bytes < budget))
      budget = (double)be->target.chunk_bytes;
    if (cap_bytes && (budget <= 0 || (double)cap_bytes < budget)) budget = (double)cap_bytes;
    c = budget > 0 && per ? (int64_t)(budget / (double)per) : n_local;
  }
  if (c < n_local) c = c < 64 ? 64 : c - c % 16; /* 16 rows: chunks of float32 rows stay 16-byte aligned */
  return c < n_local ? c : n_local;
}

int64_t stream_chunk_events(const Backend *be, const Program *p, int64_t requested, int64_t n_local, size_t cap_bytes) {
  return chunk_events(be, p, requested, n_local, cap_bytes, 0);
}

int64_t stream_resident_chunk_events(const Backend *be, const Program *p, int64_t requested, int64_t n_local,
                                     size_t resident_bytes) {
  return chunk_events(be, p, requested, n_local, 0, resident_bytes);
}

/* ---- which unit touches what ------------------------------------------------------- */

static void unit_info(Stream *s, SeqId unused) {
  (void)unused;
  const Program *p = s->e->p;
  size_t nb = (size_t)p->nbufs;
  s->reads = arena_alloc(&s->tables, (size_t)p->nunits * nb + 1);
  s->writes = arena_alloc(&s->tables, (size_t)p->nunits * nb + 1);
  s->event = arena_alloc(&s->tables, (size_t)p->nunits + 1);
  int *ks = arena_alloc(&s->tables, sizeof(int) * 1024);
  unsigned char *written = arena_alloc(&s->tables, nb + 1);
  for (int u = 0; u < p->nunits; u++)
    for (int a = 0; a < p->units[u].nalts; a++) {
      /* a fusion group's members: as their first alternative (they all
       * touch the same buffers); what the unit reads after writing it
       * itself is not an input */
      int nk = alt_kernel_list(p, &p->units[u].alts[a], NULL, ks, 1024);
      memset(written, 0, nb + 1);
      for (int k = 0; k < nk; k++) {
        const Kernel *K = p->kernels[ks[k]];
        for (size_t b = 0; b < nb; b++) {
          int r = K->reads && K->reads[b] && !written[b], w = K->writes && K->writes[b];
          s->reads[u * nb + b] |= r;
          s->writes[u * nb + b] |= w;
          if ((r || w) && p->bufs[b]->event) s->event[u] = 1;
        }
        for (size_t b = 0; b < nb; b++) written[b] |= K->writes && K->writes[b];
      }
    }
}

static int unit_at(const Sequence *q, int pos) { return q->steps[pos].kind == STEP_UNIT ? q->steps[pos].unit : -1; }

/* The last unit step before `pos` that writes b: per-event units only
 * (kind 1), units run once (kind 0), or any (kind 2); -1 if none. */
static int last_writer(const Stream *s, const Sequence *q, int pos, int b, int kind) {
  size_t nb = (size_t)s->e->p->nbufs;
  for (int i = pos - 1; i >= 0; i--) {
    int u = unit_at(q, i);
    if (u < 0 || !s->writes[(size_t)u * nb + (size_t)b]) continue;
    if (kind == 2 || s->event[u] == kind) return i;
  }
  return -1;
}

/* ---- the plan of a sequence ------------------------------------------------------------ */

static int snap_index(Arena *a, Plan *pl, int buf, int version) {
  for (int i = 0; i < pl->nsnaps; i++)
    if (pl->snaps[i].buf == buf && pl->snaps[i].version == version) return i;
  Snap *grown = arena_alloc(a, sizeof(Snap) * (size_t)(pl->nsnaps + 1)); /* a few per plan */
  if (pl->nsnaps) memcpy(grown, pl->snaps, sizeof(Snap) * (size_t)pl->nsnaps);
  pl->snaps = grown;
  pl->snaps[pl->nsnaps] = (Snap){buf, version, NULL};
  return pl->nsnaps++;
}

/* Buffers without the event axis whose value a step reads as some earlier
 * step left it (stat buffers are final from their reduce point on). */
static int versioned(const Buffer *b) { return !b->event && b->kind != BK_STAT && b->kind != BK_PARTIAL; }

static void plan_build(Stream *s, SeqId id) {
  const Program *p = s->e->p;
  const Sequence *q = &p->seq[id];
  Plan *pl = &s->plans[id];
  size_t nb = (size_t)p->nbufs;
  int nred = 0;
  for (int i = 0; i < q->len; i++) nred += q->steps[i].kind == STEP_REDUCE;
  pl->nphases = nred + 1;
  Arena *a = &s->tables;
  pl->phases = arena_alloc(a, sizeof(Phase) * (size_t)pl->nphases);
  unsigned char *inlist = arena_alloc(a, (size_t)q->len + 1);
  int *work = arena_alloc(a, sizeof(int) * ((size_t)q->len + 1));
  int start = 0;
  for (int k = 0; k < pl->nphases; k++) {
    Phase *ph = &pl->phases[k];
    int end = start;
    while (end < q->len && q->steps[end].kind != STEP_REDUCE) end++;
    ph->reduce = end < q->len ? end : -1;
    ph->small = arena_alloc(a, sizeof(int) * ((size_t)(end - start) + 1));
    ph->event = arena_alloc(a, sizeof(int) * ((size_t)end + 1));
    memset(inlist, 0, (size_t)q->len + 1);
    int nw = 0;
    for (int i = start; i < end; i++) {
      if (s->event[q->steps[i].unit])
        inlist[i] = 1, work[nw++] = i;
      else
        ph->small[ph->nsmall++] = i;
    }
    /* per-event inputs of this phase's per-event units: produced in this
     * phase, recomputed from an earlier one, or supplied from outside */
    while (nw) {
      int i = work[--nw], u = q->steps[i].unit;
      for (size_t b = 0; b < nb; b++) {
        const Buffer *buf = p->bufs[b];
        /* the data, and the per-event once buffers recomputed with each chunk's data */
        if (!s->reads[(size_t)u * nb + b] || !buf->event || buf->kind == BK_DATA || buf->once) continue;
        int w = last_writer(s, q, i, (int)b, 1);
        if (w < 0)
          ph->fill = 1;
        else if (!inlist[w])
          inlist[w] = 1, work[nw++] = w;
      }
    }
    for (int i = 0; i < end; i++)
      if (inlist[i]) ph->event[ph->nevent++] = i;
    /* the small units of the phase run before its chunks: a per-event unit
     * that must see an older value of a buffer reads a snapshot of it */
    ph->swap_off = arena_alloc(a, sizeof(int) * ((size_t)ph->nevent + 1));
    ph->swaps = arena_alloc(a, sizeof(int) * ((size_t)ph->nevent * nb + 1));
    int ns = 0;
    for (int j = 0; j < ph->nevent; j++) {
      int i = ph->event[j], u = q->steps[i].unit;
      ph->swap_off[j] = ns;
      for (size_t b = 0; b < nb; b++) {
        if (!s->reads[(size_t)u * nb + b] || !versioned(p->bufs[b])) continue;
        int want = last_writer(s, q, i, (int)b, 0), now = last_writer(s, q, end, (int)b, 0);
        if (want != now) ph->swaps[ns++] = snap_index(a, pl, (int)b, want);
      }
    }
    ph->swap_off[ph->nevent] = ns;
    start = end + 1;
  }
  pl->built = 1;
}

/* Runs a builder of tables (unit_info, plan_build) with the arena's escape:
 * out of memory leaves what it built in the arena, freed with the stream. */
static gmmc_status build_tables(Stream *s, void (*build)(Stream *, SeqId), SeqId id, char **err) {
  jmp_buf escape;
  if (setjmp(escape)) {
    s->tables.escape = NULL;
    return oom_status(err, "the streaming plan");
  }
  s->tables.escape = &escape;
  build(s, id);
  s->tables.escape = NULL;
  return GMMC_OK;
}

static void plan_free(Backend *be, Plan *pl) {
  for (int i = 0; i < pl->nsnaps; i++)
    if (pl->snaps[i].dev) be->ops->release(be, pl->snaps[i].dev);
}

/* ---- running ------------------------------------------------------------------------------ */

static gmmc_status take_snaps(Stream *s, Plan *pl, int version, char **err) {
  Exec *e = s->e;
  for (int i = 0; i < pl->nsnaps; i++) {
    Snap *sn = &pl->snaps[i];
    if (sn->version != version) continue;
    const Buffer *b = e->p->bufs[sn->buf];
    size_t bytes = (size_t)buffer_elems(b, 0) * exec_elem_size(b->elem);
    gmmc_status r = GMMC_OK;
    if (!sn->dev) r = e->be->ops->alloc(e->be, bytes ? bytes : 8, &sn->dev, err);
    void *tmp = r ? NULL : xmalloc(bytes + 8);
    if (!r && !tmp) r = oom_status(err, "a snapshot's staging copy");
    if (!r) r = e->be->ops->download(e->be, tmp, e->dev[sn->buf], bytes, err);
    if (!r) r = e->be->ops->upload(e->be, sn->dev, tmp, bytes, err);
    free(tmp);
    if (r) return r;
  }
  return GMMC_OK;
}

static gmmc_status bind(Stream *s, int64_t row0, int64_t n, char **err) {
  exec_set_events(s->e, n, s->n_total);
  if (s->bound_n == n && s->bound_row0 == row0) return GMMC_OK;
  s->bound_n = -1;
  gmmc_status r = exec_bind_data(s->e, s->data, row0, err);
  if (r) return r;
  s->bound_row0 = row0;
  s->bound_n = n;
  return GMMC_OK;
}

static gmmc_status run_event_units(Stream *s, const Plan *pl, const Sequence *q, const Phase *ph, char **err) {
  Exec *e = s->e;
  for (int j = 0; j < ph->nevent; j++) {
    uint64_t saved[64];
    int n = ph->swap_off[j + 1] - ph->swap_off[j];
    if (n > 64) n = 64;
    const int *sw = ph->swaps + ph->swap_off[j];
    for (int t = 0; t < n; t++) {
      const Snap *sn = &pl->snaps[sw[t]];
      saved[t] = e->args[sn->buf];
      e->args[sn->buf] = (uint64_t)(uintptr_t)sn->dev;
    }
    gmmc_status r = exec_run_unit(e, q->steps[ph->event[j]].unit, err);
    for (int t = 0; t < n; t++) e->args[pl->snaps[sw[t]].buf] = saved[t];
    if (r) return r;
  }
  return GMMC_OK;
}

/* Adds this chunk's stat buffers of a reduce point into s->acc (float64). */
static gmmc_status accumulate(Stream *s, const Step *red, int first, char **err) {
  Exec *e = s->e;
  int64_t total = 0;
  for (int i = 0; i < red->nbufs; i++) total += buffer_elems(e->p->bufs[red->bufs[i]], 0);
  if (total > s->capacc) {
    double *acc = xrealloc(s->acc, sizeof(double) * (size_t)total);
    if (acc) s->acc = acc;
    double *tmp = acc ? xrealloc(s->tmp, sizeof(double) * (size_t)total) : NULL;
    if (tmp) s->tmp = tmp;
    if (!acc || !tmp) return oom_status(err, "the sums over chunks");
    s->capacc = total;
  }
  int64_t off = 0;
  for (int i = 0; i < red->nbufs; i++) {
    const Buffer *b = e->p->bufs[red->bufs[i]];
    int64_t n = buffer_elems(b, 0);
    double *acc = s->acc + off, *v = s->tmp + off;
    gmmc_status r = exec_read(e, red->bufs[i], v, err);
    if (r) return r;
    if (first)
      memcpy(acc, v, sizeof(double) * (size_t)n);
    else if (b->stat_op == R_SUM)
      for (int64_t j = 0; j < n; j++) acc[j] += v[j];
    else if (b->stat_op == R_MAX)
      for (int64_t j = 0; j < n; j++) acc[j] = v[j] > acc[j] ? v[j] : acc[j];
    else if (b->stat_op == R_MIN)
      for (int64_t j = 0; j < n; j++) acc[j] = v[j] < acc[j] ? v[j] : acc[j];
    else {
      *err = xasprintf("stat buffer '%s': cannot combine reduction %d across chunks", b->name, (int)b->stat_op);
      return GMMC_ERR_INTERNAL;
    }
    off += n;
  }
  return GMMC_OK;
}

static gmmc_status upload_acc(Stream *s, const Step *red, char **err) {
  int64_t off = 0;
  for (int i = 0; i < red->nbufs; i++) {
    gmmc_status r = exec_write(s->e, red->bufs[i], s->acc + off, err);
    if (r) return r;
    off += buffer_elems(s->e->p->bufs[red->bufs[i]], 0);
  }
  return GMMC_OK;
}

/* After a local failure, still meet the other processes at every reduce
 * point left, so that none of them waits forever. */
static gmmc_status fail_rest(Exec *e, const Sequence *q, int from, gmmc_status r, char **err) {
  for (int i = from; i < q->len; i++) {
    if (q->steps[i].kind != STEP_REDUCE || !e->hook.fn) continue;
    gmmc_status h = e->hook.fn(e->hook.user, e, q->steps[i].bufs, q->steps[i].nbufs, r, err);
    if (h) return h;
  }
  return r;
}

static gmmc_status run_chunked(Stream *s, SeqId id, StreamFill fill, void *user, char **err) {
  Exec *e = s->e;
  const Sequence *q = &e->p->seq[id];
  Plan *pl = &s->plans[id];
  gmmc_status failed = pl->built ? GMMC_OK : build_tables(s, plan_build, id, err);
  if (failed) return fail_rest(e, q, 0, failed, err);
  int64_t nch = stream_chunks(s);
  failed = take_snaps(s, pl, -1, err);
  for (int k = 0; k < pl->nphases; k++) {
    const Phase *ph = &pl->phases[k];
    for (int j = 0; j < ph->nsmall && !failed; j++) {
      failed = exec_run_unit(e, q->steps[ph->small[j]].unit, err);
      if (!failed) failed = take_snaps(s, pl, ph->small[j], err);
    }
    if (ph->reduce < 0) break; /* per-event outputs after the last reduce point: see stream_eval */
    const Step *red = &q->steps[ph->reduce];
    if (!failed && ph->fill && !fill) {
      *err = xasprintf("internal error: sequence %d reads per-event values that nothing supplies", (int)id);
      failed = GMMC_ERR_INTERNAL;
    }
    for (int64_t c = 0; c < nch && !failed; c++) {
      int64_t row0 = c * s->chunk, n = s->n_local - row0 < s->chunk ? s->n_local - row0 : s->chunk;
      failed = bind(s, row0, n, err);
      /* the per-event once buffers of this chunk (SEQ_ONCE computes its own) */
      if (!failed && id != SEQ_ONCE) failed = exec_refresh_once(e, err);
      if (!failed && ph->fill) failed = fill(user, e, row0, n, err);
      if (!failed) failed = run_event_units(s, pl, q, ph, err);
      if (!failed) failed = accumulate(s, red, c == 0, err);
      data_drop_pages(s->data, row0, n); /* keep the resident set at a chunk, not the file */
    }
    if (!failed) failed = upload_acc(s, red, err);
    if (e->hook.fn) {
      gmmc_status r = e->hook.fn(e->hook.user, e, red->bufs, red->nbufs, failed, err);
      if (r) return r;
    } else if (failed) {
      return failed;
    }
  }
  return failed;
}

gmmc_status stream_run(Stream *s, SeqId id, StreamFill fill, void *user, char **err) {
  if (stream_chunks(s) > 1) return run_chunked(s, id, fill, user, err);
  gmmc_status r = bind(s, 0, s->n_local, err);
  if (!r && fill) r = fill(user, s->e, 0, s->n_local, err);
  if (r) return fail_rest(s->e, &s->e->p->seq[id], 0, r, err);
  return exec_run(s->e, id, err);
}

gmmc_status stream_once(Stream *s, char **err) { return stream_run(s, SEQ_ONCE, NULL, NULL, err); }

gmmc_status stream_skip(Stream *s, SeqId id, gmmc_status failed, char **err) {
  return fail_rest(s->e, &s->e->p->seq[id], 0, failed, err);
}

gmmc_status stream_eval(Stream *s, SeqId id, int buf, int64_t row0, int64_t n, char **err) {
  const Program *p = s->e->p;
  const Sequence *q = &p->seq[id];
  size_t nb = (size_t)p->nbufs;
  if (n > s->chunk || row0 < 0 || row0 + n > s->n_local) {
    *err = xasprintf("internal error: rows [%lld, %lld) for a chunk of %lld of %lld events", (long long)row0,
                     (long long)(row0 + n), (long long)s->chunk, (long long)s->n_local);
    return GMMC_ERR_INTERNAL;
  }
  int last = last_writer(s, q, q->len, buf, 2);
  if (last < 0) {
    *err = xasprintf("internal error: no step of sequence %d computes '%s'", (int)id, p->bufs[buf]->name);
    return GMMC_ERR_INTERNAL;
  }
  unsigned char *inlist = xcalloc((size_t)q->len + 1, 1);
  int *work = xmalloc(sizeof(int) * ((size_t)q->len + 1)), nw = 0;
  if (!inlist || !work) {
    free(inlist);
    free(work);
    return oom_status(err, "the steps of a partial evaluation");
  }
  inlist[last] = 1;
  work[nw++] = last;
  gmmc_status r = GMMC_OK;
  while (nw && !r) {
    int i = work[--nw], u = q->steps[i].unit;
    for (size_t b = 0; b < nb && !r; b++) {
      if (!s->reads[(size_t)u * nb + b] || p->bufs[b]->kind == BK_DATA || p->bufs[b]->once) continue;
      if (p->bufs[b]->kind == BK_STAT) {
        *err = xasprintf("'%s' depends on a reduction over all events; it cannot be computed for a part of them",
                         p->bufs[buf]->name);
        r = GMMC_ERR_INTERNAL;
        break;
      }
      int w = last_writer(s, q, i, (int)b, 2);
      if (w >= 0 && !inlist[w]) inlist[w] = 1, work[nw++] = w;
    }
  }
  if (!r) r = bind(s, row0, n, err);
  if (!r) r = exec_refresh_once(s->e, err);
  for (int i = 0; i < q->len && !r; i++)
    if (inlist[i]) r = exec_run_unit(s->e, q->steps[i].unit, err);
  free(inlist);
  free(work);
  return r;
}

gmmc_status stream_create(Backend *be, const Program *p, BackendProgram *bp, const gmmc_data *data, int64_t n_total,
                          int64_t chunk, Stream **out, char **err) {
  Stream *s = xcalloc(1, sizeof *s);
  if (!s) return oom_status(err, "a stream");
  s->data = data;
  s->n_local = data->rows;
  s->n_total = n_total;
  s->chunk = chunk < 1 ? 1 : chunk > data->rows ? data->rows : chunk;
  s->bound_n = -1;
  gmmc_status r = exec_create(be, p, bp, s->chunk, &s->e, err);
  if (r) {
    free(s);
    return r;
  }
  exec_set_events(s->e, s->chunk, n_total);
  if ((r = build_tables(s, unit_info, SEQ_ITERATE, err)) ||
      (stream_chunks(s) == 1 && (r = bind(s, 0, s->n_local, err)))) {
    stream_destroy(s);
    return r;
  }
  *out = s;
  return GMMC_OK;
}

void stream_destroy(Stream *s) {
  if (!s) return;
  for (int i = 0; i < SEQ_COUNT; i++) plan_free(s->e->be, &s->plans[i]);
  exec_destroy(s->e);
  arena_free(&s->tables);
  free(s->acc);
  free(s->tmp);
  free(s);
}

Exec *stream_exec(Stream *s) { return s->e; }

int64_t stream_chunks(const Stream *s) { return s->n_local <= 0 ? 1 : (s->n_local + s->chunk - 1) / s->chunk; }
