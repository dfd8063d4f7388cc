/* The compile step (spec -> lower -> load): a spec and its sizes loaded,
 * checked, lowered and loaded on the context's backend, or taken from the
 * context's program cache. The variant choices already cached for the
 * events (autotune.h) decide which variants are lowered and loaded. */
#include "compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autotune.h"
#include "runtime/device/kcache.h"

/* The spec loaded and its size values in spec order, or the error recorded. */
static gmmc_status load_spec(gmmc_context *ctx, const char *spec_file, const char *spec_text, const SizeBinding *sizes,
                             int nsizes, int64_t *values, Spec **out) {
  char *err = NULL;
  Spec *spec = *out = spec_load(spec_file, spec_text, strlen(spec_text), &err);
  if (!spec) return err ? ctx_fail_take(ctx, GMMC_ERR_SPEC, err) : ctx_oom(ctx, "the spec");
  gmmc_status s = GMMC_OK;
  if (spec->sizes.len > 64) s = ctx_fail(ctx, GMMC_ERR_SPEC, "%s: too many sizes", spec_file);
  for (int i = 0; i < spec->sizes.len && !s; i++) {
    SizeSym *z = spec_size(spec, i);
    values[i] = 0;
    if (z->is_event) continue;
    for (int j = 0; j < nsizes; j++)
      if (strcmp(sizes[j].name, z->name) == 0) values[i] = sizes[j].value;
    if (values[i] <= 0) s = ctx_fail(ctx, GMMC_ERR_INVALID_ARGUMENT, "%s: no value for size %s", spec_file, z->name);
  }
  if (s) {
    spec_free(spec);
    *out = NULL;
  }
  return s;
}

gmmc_status ctx_compile(gmmc_context *ctx, const char *spec_file, const char *spec_text, const SizeBinding *sizes,
                        int nsizes, LType real, int64_t events, Compiled **out) {
  return ctx_compile_weighted(ctx, spec_file, spec_text, sizes, nsizes, real, events, 0, PRECISION_FLOAT32, out);
}

/* GMMC_HOST_FAST32=1: float32 host programs at float32's width
 * (LowerOptions.host_fast32; opt-in: docs/limits.md, "float32 on the host"). */
static int host_fast32_asked(void) {
  const char *v = getenv("GMMC_HOST_FAST32");
  return v && strcmp(v, "1") == 0;
}

int ctx_float32_has_stats64(const gmmc_context *ctx, Precision precision) {
  return float32_stats64(precision, ctx->kind == GMMC_BACKEND_HOST, host_fast32_asked());
}

gmmc_status ctx_compile_weighted(gmmc_context *ctx, const char *spec_file, const char *spec_text,
                                 const SizeBinding *sizes, int nsizes, LType real, int64_t events, int weighted,
                                 Precision precision, Compiled **out) {
  uint64_t key = fnv1a(FNV1A_INIT, spec_text, strlen(spec_text));
  key = fnv1a(key, &weighted, sizeof weighted);
  key = fnv1a(key, &precision, sizeof precision);
  int fast32 = host_fast32_asked();
  key = fnv1a(key, &fast32, sizeof fast32);
  for (int i = 0; i < nsizes; i++) {
    key = fnv1a(key, sizes[i].name, strlen(sizes[i].name) + 1);
    key = fnv1a(key, &sizes[i].value, sizeof sizes[i].value);
  }
  key = fnv1a(key, &real, sizeof real);
  /* a program with every variant serves any choices */
  for (int i = 0; i < ctx->ncompiled; i++)
    if (ctx->compiled[i]->key == key && !ctx->compiled[i]->p->known_bucket) {
      *out = ctx->compiled[i];
      return GMMC_OK;
    }
  double t0 = monotonic_ms();
  const char *only_simple = getenv("GMMC_VARIANTS");
  LowerOptions lopt = {.real = real,
                       .precision = precision,
                       .host = ctx->kind == GMMC_BACKEND_HOST,
                       .target = ctx->be->target,
                       .variants = !(only_simple && strcmp(only_simple, "simple") == 0),
                       .no_tensor_cores = only_simple && strcmp(only_simple, "no-tensor-cores") == 0,
                       .fuse = autotune_fusion_lowered(),
                       .host_fast32 = fast32,
                       .weighted = weighted};
  int64_t values[64];
  Spec *spec;
  gmmc_status s = load_spec(ctx, spec_file, spec_text, sizes, nsizes, values, &spec);
  if (s) return s;
  uint64_t digest = kcache_source_digest(spec_text, values, spec->sizes.len, &lopt);
  /* choices already made for these events: lower only them (a fraction of
   * the lowering time; their kernels are the full program's, cached) */
  KnownChoices *known = !lopt.host && lopt.variants && !ctx->every_variant && ctx->be->cache_dir
                            ? autotune_known_choices(ctx, digest, events)
                            : NULL;
  int bucket = known ? 1 + autotune_known_bucket(known) : 0;
  for (int i = 0; i < ctx->ncompiled && known; i++)
    if (ctx->compiled[i]->key == key && ctx->compiled[i]->p->known_bucket == bucket) {
      spec_free(spec);
      autotune_known_free(known);
      *out = ctx->compiled[i];
      return GMMC_OK;
    }
  double t_spec = monotonic_ms();
  char *err = NULL;
  Program *p = NULL;
  int lowered = 0; /* lower_program took the spec */
  if (known) {
    lopt.keep = autotune_keep_known;
    lopt.keep_user = known;
    p = lower_program(spec, values, &lopt, &err);
    lowered = 1;
    lopt.keep = NULL;
    if (p && !autotune_known_lowered(known, p)) { /* a stale table: lower every variant */
      program_free(p);
      p = NULL;
      s = load_spec(ctx, spec_file, spec_text, sizes, nsizes, values, &spec);
      if (s) {
        autotune_known_free(known);
        return s;
      }
      lowered = 0;
    } else if (p) {
      p->known_bucket = bucket;
    }
  }
  autotune_known_free(known);
  if (!lowered) p = lower_program(spec, values, &lopt, &err);
  if (!p) return err ? ctx_fail_take(ctx, GMMC_ERR_COMPILE, err) : ctx_oom(ctx, "the lowered program");
  p->digest = digest;
  double t_lower = monotonic_ms();
  BackendProgram *bp;
  int cached = 0;
  /* with known choices, only the kernels they use (gmmc bench: all) */
  unsigned char *mask = ctx->every_variant ? NULL : autotune_known_mask(ctx, p);
  /* the variants may compile in the background while the simple kernels run */
  unsigned char *stand_in = ctx->every_variant ? NULL : autotune_stand_in_mask(p);
  s = ctx->be->ops->load(ctx->be, p, mask, stand_in, &bp, &cached, &err);
  free(mask);
  free(stand_in);
  if (s) {
    program_free(p);
    return ctx_fail_take(ctx, s, err);
  }
  Compiled *c = xcalloc(1, sizeof *c);
  Compiled **grown = c ? xrealloc(ctx->compiled, sizeof(Compiled *) * (size_t)(ctx->ncompiled + 1)) : NULL;
  if (!grown) {
    free(c);
    ctx->be->ops->unload(ctx->be, bp);
    program_free(p);
    return ctx_oom(ctx, "the context's program cache");
  }
  ctx->compiled = grown;
  c->key = key;
  c->p = p;
  c->bp = bp;
  c->compile_ms = monotonic_ms() - t0;
  if (ctx->profile)
    fprintf(stderr, "gmmc profile: %s: spec %.2f ms, lowering %.2f ms (%d kernels%s), %s %.2f ms; %.2f ms in all\n",
            spec_file, t_spec - t0, t_lower - t_spec, p->nkernels, p->known_bucket ? ", known choices" : "",
            cached ? "cached code" : "code generation", t0 + c->compile_ms - t_lower, c->compile_ms);
  if (cached)
    ctx->n_cached++;
  else
    ctx->n_compiled++;
  ctx->compile_ms += c->compile_ms;
  ctx->compiled[ctx->ncompiled++] = c;
  *out = c;
  return GMMC_OK;
}

void ctx_set_every_variant(gmmc_context *ctx, int on) { ctx->every_variant = on; }

const Compiled *ctx_last_compiled(const gmmc_context *ctx) {
  return ctx->ncompiled ? ctx->compiled[ctx->ncompiled - 1] : NULL;
}
