/* The data resident on the GPU while a fit streams its other per-event
 * buffers (fit.h, fit_resident). */
#include <stdlib.h>
#include <string.h>

#include "fit.h"

gmmc_status fit_resident(gmmc_context *ctx, FitData *fd, const Program *p, int64_t requested, Resident *r) {
  const gmmc_data *d = fd->data;
  Backend *be = ctx->be;
  memset(r, 0, sizeof *r);
  /* only where streaming copies the data: a GPU, host data, not one chunk */
  if (fd->chunk >= d->rows || be->host_memory || d->on_device || !be->memory_bytes || be->ordinal < 0) return GMMC_OK;
  const char *env = getenv("GMMC_RESIDENT"); /* 0: copy the data chunk by chunk (to compare) */
  if (env && !strcmp(env, "0")) return GMMC_OK;
  size_t bytes = (size_t)d->rows * (size_t)d->cols * exec_elem_size(p->real);
  /* the data takes at most half the device's memory; the chunks share the rest */
  if ((double)bytes > 0.5 * (double)be->memory_bytes) return GMMC_OK;
  char *err = NULL;
  void *dev = NULL;
  gmmc_status s = be->ops->alloc(be, bytes ? bytes : 8, &dev, &err);
  if (s == GMMC_ERR_OUT_OF_MEMORY) { /* the chunks stream the data as before */
    free(err);
    return GMMC_OK;
  }
  if (!s) s = exec_upload_values(be, dev, d->values, d->dtype, p->real, d->rows * d->cols, &err);
  if (s) {
    if (dev) be->ops->release(be, dev);
    return ctx_fail_take(ctx, s, err);
  }
  r->dev = dev;
  r->view = *d; /* the weights and the host's reads of rows stay the caller's */
  r->view.values = dev;
  r->view.dtype = p->real == LT_F64 ? GMMC_FLOAT64 : GMMC_FLOAT32;
  r->view.owned = NULL;
  r->view.map = NULL;
  r->view.on_device = 1;
  r->view.device = be->ordinal;
  r->view.row_stride = d->cols;
  r->view.col_stride = 1;
  r->view.stream = NULL;
  fd->stream_data = &r->view;
  fd->chunk = stream_resident_chunk_events(be, p, requested, d->rows, bytes);
  return GMMC_OK;
}

void fit_resident_free(gmmc_context *ctx, Resident *r) {
  if (r->dev) ctx->be->ops->release(ctx->be, r->dev);
  r->dev = NULL;
}
