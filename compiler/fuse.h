/* Fusion across statements (issue: one pass over the events per step).
 *
 * A sequence's consecutive per-event units (maps over events and reductions
 * over events) between two reduce points form a group: one unit whose
 * alternatives are "unfused" (its members, each with its own choice) and the
 * fused variants of the registry (variant.h, SITE_GROUP), which take the
 * events a tile at a time and compute every member for the tile, holding the
 * per-event tensors with more than the event axis (L[n,m], R[n,m]) in the
 * tile instead of memory. Such a tensor reaches memory only where something
 * outside the fused groups reads it (an output of the E-step sequence, a
 * unit that could not be fused); a later group that reads one recomputes it
 * from its definition, reading the parameters as they were when it was
 * first computed (snapshots taken before they are overwritten). Tensors of
 * the event axis alone (lse[n], label[n]) are always stored: O(1) per event.
 *
 * Because a fused group leaves such tensors unwritten, the groups of one
 * sequence are all fused or all unfused (Unit.group_seq): the autotuner
 * decides per sequence. */
#ifndef GMMC_FUSE_H
#define GMMC_FUSE_H

#include "lower.h"

/* What made a unit: a statement's map (h NULL) or one of its reductions
 * over events. */
typedef struct {
  Stmt *st;
  Hoisted *h;
} UnitOrigin;

enum { GROUP_MAX = 16 };

typedef struct {
  SeqId seq;
  int unit;               /* the group's own unit */
  int members[GROUP_MAX]; /* member units, in sequence order */
  int nmembers;
  Stmt *maps[GROUP_MAX];  /* per tile, in order: recomputed statements, then the members' maps */
  int nmaps, nrecomputed; /* the first nrecomputed of maps are recomputed ones (not members) */
  Hoisted *reds[8];       /* the members' reductions over events */
  Stmt *red_stmts[8];
  int nreds;
  Tensor *stored[GROUP_MAX]; /* map targets also written to memory */
  int nstored;
  Tensor *snap_t[8]; /* reads of these tensors by recomputed statements ... */
  int snap_buf[8];   /* ... come from these snapshot buffers */
  int nsnap;
} Group;

/* Forms the groups of every sequence, adds their units (and the snapshot
 * units they need) and rewrites the sequences to run them; origin[u] for
 * every unit made so far. Called once the sequences are scheduled, when
 * variants are lowered. */
void fuse_sequences(Lower *L, const UnitOrigin *origin);

/* What the fusion groups of sequence seq hand on, which a fused run must
 * leave as the unfused one does: the statistics, the per-event tensors of
 * the event axis alone, and in the E-step sequence the spec's outputs.
 * (What the sequence computes from the statistics follows from them.) */
int fuse_hands_on(const Program *p, SeqId seq, int buf);
/* The most alternatives of a group of sequence seq (0: it has none). */
int fuse_alternatives(const Program *p, SeqId seq);

/* Whether a tensor's leading axis is the event axis, and whether it has
 * more axes than that (held per tile, not stored, when fused). */
int tensor_per_event(const Lower *L, const Tensor *t);
int tensor_wide(const Lower *L, const Tensor *t);

#endif
