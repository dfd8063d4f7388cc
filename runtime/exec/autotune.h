/* Automatic variant selection (`schedule: auto`): for every unit with
 * several alternatives, the device model prunes those predicted much slower
 * than the best, the survivors are timed on the real buffers after the first
 * EM iteration, and the winner is cached on disk per (program, device,
 * event-count bucket) so later runs skip the measurement. */
#ifndef GMMC_AUTOTUNE_H
#define GMMC_AUTOTUNE_H

#include "context.h"

gmmc_status autotune_exec(gmmc_context *ctx, Exec *e);
typedef struct Stream Stream;
/* autotune_exec on a stream's exec, after its first iteration; when the
 * events come in chunks, every buffer without the event axis is kept. */
gmmc_status autotune_stream(gmmc_context *ctx, Stream *st);

/* Sets the cached winners for this program, device and event count, if
 * known (*applied), so that even a fit's first iteration runs them; the
 * kernels of the choices in force (else the simple ones) are loaded: call
 * it before running an exec. Nothing is applied under GMMC_VERIFY_VARIANTS,
 * which tunes and checks every time. */
gmmc_status autotune_apply_known(gmmc_context *ctx, Exec *e, int *applied);

/* Applies cached choices that waited for the background compile of their
 * kernels (autotune_apply_known deferred them), once it is done; call
 * between iterations. */
gmmc_status autotune_poll(gmmc_context *ctx, Exec *e);

/* The kernels that run while the others compile in the background: each
 * unit's simple (or spec-fixed) alternative and the kernels outside units. */
unsigned char *autotune_stand_in_mask(const Program *p);

/* The kernels a fit needs when the choices for this program and device are
 * already known (every cached winner and the kernels outside units), or NULL
 * when nothing is known and everything must be compiled for tuning. */
unsigned char *autotune_known_mask(gmmc_context *ctx, const Program *p);

/* Lowering for choices already made (LowerOptions.keep): the choices cached
 * on this device for the program whose source digest (device/kcache.h) is
 * `digest`, for the bucket of `events`; NULL when none are (or under
 * GMMC_VERIFY_VARIANTS): then every variant is lowered, to be tuned. */
typedef struct KnownChoices KnownChoices;
KnownChoices *autotune_known_choices(gmmc_context *ctx, uint64_t digest, int64_t events);
/* The LowerOptions.keep callback, with the KnownChoices as its user. */
int autotune_keep_known(void *known, int unit, uint32_t variant);
/* p, lowered with them, has every unit's chosen variant (else lower again
 * with every variant: the table is stale). */
int autotune_known_lowered(const KnownChoices *k, const Program *p);
int autotune_known_bucket(const KnownChoices *k);
void autotune_known_free(KnownChoices *k);

/* Fusion groups are lowered (GMMC_FUSE=auto: measured against the unfused
 * members; GMMC_FUSE=1: always fused); unset or 0: none, while the fused
 * kernels lose everywhere measured (docs/performance.md). */
int autotune_fusion_lowered(void);

/* GMMC_VERIFY_VARIANTS is set: tune and check every variant every time. */
int autotune_verifying(void);

/* One unit's alternatives timed (milliseconds per run, -1 when pruned), for
 * `gmmc bench`. */
typedef struct {
  const char *unit;
  int index; /* the unit's position in the program (only units with alternatives are timed) */
  int nalts;
  const char *variant[16];
  double ms[16];
  int chosen;
} UnitTiming;
gmmc_status autotune_measure(gmmc_context *ctx, Exec *e, UnitTiming *out, int max_units, int *nout);

#endif
