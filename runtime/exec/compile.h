/* The compile step (spec -> lower -> load), what a fit, the k-means
 * initialisation and inference call: a spec specialized for its sizes and
 * loaded on the context's backend, kept in the context's program cache. */
#ifndef GMMC_COMPILE_H
#define GMMC_COMPILE_H

#include "context.h"

/* A size binding by name, for compiling a spec. */
typedef struct {
  const char *name;
  int64_t value;
} SizeBinding;

/* Loads, checks, lowers and compiles a spec for this backend, or takes it
 * from the context's cache. `events`: how many events a launch will hold
 * (0: unknown); when the variant choices for them are cached, only those
 * variants are lowered and loaded. */
gmmc_status ctx_compile(gmmc_context *ctx, const char *spec_file, const char *spec_text, const SizeBinding *sizes,
                        int nsizes, LType real, int64_t events, Compiled **out);
/* The same with `weighted`: the data will carry per-event weights
 * (gmmc_data.weights) for the spec's optional data tensor; without, the spec
 * is specialized without them (spec_drop_weights) and ctx_compile's program
 * is the one for that case. precision: what the variants may trade for
 * speed (loopir.h, gmmc_fit_options_set_precision); ctx_compile's is float32. */
gmmc_status ctx_compile_weighted(gmmc_context *ctx, const char *spec_file, const char *spec_text,
                                 const SizeBinding *sizes, int nsizes, LType real, int64_t events, int weighted,
                                 Precision precision, Compiled **out);

/* Whether the context's float32 programs of this precision already form the
 * terms of their sums over events in float64 (float32_stats64, loopir.h:
 * float64-stats, or the host unless GMMC_HOST_FAST32=1): a redo with
 * float64 statistics changes nothing there. */
int ctx_float32_has_stats64(const gmmc_context *ctx, Precision precision);

/* gmmc bench: every variant is lowered and loaded even where the choices
 * are cached (on = 1), so that all of them can be timed. */
void ctx_set_every_variant(gmmc_context *ctx, int on);

/* The program the context compiled (or took from the disk cache) last, NULL
 * when none. */
const Compiled *ctx_last_compiled(const gmmc_context *ctx);

#endif
