/* What infer.c shares with sample.c. */
#ifndef GMMC_INFER_H
#define GMMC_INFER_H

#include "runtime/exec/context.h"

/* GMMC_OK when a caller's array of len elements holds rows x per (per 1: a
 * value per row); else GMMC_ERR_INVALID_ARGUMENT with a message naming fn,
 * the argument and both counts. Checked before anything is written: the
 * library never sees the array's size otherwise. */
gmmc_status infer_check_len(gmmc_context *ctx, const char *fn, const char *arg, int64_t len, int64_t rows, int64_t per);

#endif
