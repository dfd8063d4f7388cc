/* The pieces shared by the fused kernels of a fusion group (fuse.h): the
 * group's form, its tile arrays and the reads redirected to them, the loop
 * over a slice's tiles, the maps computed into the tiles, the partials'
 * combines. The builders: variants_fused.c (GPU), variants_host_fused.c
 * (host). */
#ifndef GMMC_FUSED_TILE_H
#define GMMC_FUSED_TILE_H

#include "kernel_build.h"
#include "variant.h"

typedef struct {
  int events;  /* per tile */
  int threads; /* per block (GPU) */
  const char *variant;
} FusedConfig;

enum { FUSED_MAX_DATA = 2, FUSED_MAX_ACCS = 48 };

typedef struct {
  const Group *g;
  Tensor *data[FUSED_MAX_DATA]; /* data tensors [n, d], staged per tile */
  int ndata;
  int64_t per_event[GROUP_MAX]; /* elements per event of each map's target */
  int64_t elems[8];             /* result elements of each reduction */
} FusedForm;
_Static_assert(sizeof(FusedForm) <= VARIANT_FORM_BYTES, "FusedForm must fit the registry's form storage");

typedef struct {
  int64_t slices, smem;
} FusedShape;
_Static_assert(sizeof(FusedShape) <= VARIANT_SHAPE_BYTES, "FusedShape must fit the registry's shape storage");

/* The tile arrays' reads (Lower.access). */
typedef struct {
  const FusedForm *f;
  int n0;     /* the tile's first event (a kernel variable) */
  int events; /* per tile */
  int data_sh[FUSED_MAX_DATA];
  int tile_sh[GROUP_MAX];
  int recomputing; /* lowering a recomputed statement: its snapshots apply */
  int host;        /* the layout: [event][element] (host) or [element][event] */
  int64_t rows;    /* GPU: a row's length, events + padding */
} TileReads;

/* A fused kernel being built. */
typedef struct {
  Lower *L;
  Kernel *k;
  const FusedForm *f;
  const FusedConfig *c;
  int host;
  int tid;         /* GPU: the thread */
  int first, last; /* the slice's events */
  int n0;
  TileReads reads;
  int64_t rows;    /* GPU: the tile arrays' rows (0: events + 1) */
  const char *tag; /* of the names (NULL: fused, hostfused) */
} FusedBuild;

/* The group's form: its maps' per-event sizes, its reductions' result
 * counts, its data tensors; 0 where a group cannot be fused (a builtin, a
 * read of a previous value, more than two data tensors). */
int fused_match(Lower *L, const Site *site, void *form);
/* Elements of tensor t from axis `from` on. */
int64_t fused_extent(Lower *L, const Tensor *t, int from);
/* Shared memory (host: stack) of a tile of `events`: the data and every
 * map's target (on the GPU, less the arrays taken over); _rows: on the GPU
 * with rows of `rows`. */
int64_t fused_tile_bytes(Lower *L, const FusedForm *f, int64_t events, int host);
int64_t fused_tile_bytes_rows(Lower *L, const FusedForm *f, int64_t events, int64_t rows);
/* Whether e reads tensor t. */
int fused_reads_tensor(const Expr *e, const Tensor *t);
/* GPU: the earlier map whose tile array map i reuses, or -1. */
int fused_tile_alias(Lower *L, const FusedForm *f, int i);
int64_t fused_total_elems(const FusedForm *f);
/* What the simple fused kernel moves and computes, for the cost model. */
Work fused_work(Lower *L, const FusedForm *f, int64_t slices);

/* Builder pieces: a shared (host: local) array; a loop over [0, count)
 * spread over the threads (GPU) or run by the one (host), returning its
 * body with *flat set; a barrier (GPU only). */
int fused_shared(FusedBuild *b, const char *name, LType t, int64_t count);
LStmt *fused_spread(FusedBuild *b, LStmt *blk, const char *name, int64_t count, int *flat);
void fused_barrier(FusedBuild *b, LStmt *blk);
/* Lower.access for a kernel that lowers a group's recomputed statement
 * outside the tile (access_user: the Group): its snapshots' reads. */
LExpr *fused_snapshot_access(Lower *L, Kernel *k, const Expr *e, Env *env);
/* The tile arrays and the reads that go to them (Lower.access). */
void fused_make_tiles(FusedBuild *b);
/* The events of the slice a tile at a time: returns the tile's body, n0 set. */
LStmt *fused_tile_loop(FusedBuild *b, LStmt *blk);
/* Stages the tile's rows of each data tensor (zero past the slice). */
void fused_stage_data(FusedBuild *b, LStmt *blk);
/* Every map of the group from the first'th on, for the tile's events, into
 * its tile array (and memory where the group stores it). */
void fused_tile_maps(FusedBuild *b, LStmt *blk, int first);
LExpr *fused_red_init(Program *p, RedOp op, LType t);
LExpr *fused_red_step(Lower *L, RedOp op, LExpr *acc, LExpr *v, int reassoc);
/* The configuration and the group, in kernel and partial names. */
const char *fused_kernel_tag(FusedBuild *b);
Kernel *fused_new_kernel(FusedBuild *b, const Site *site);
/* The combine kernels of the group's partials. */
void fused_combine_all(FusedBuild *b, const int *partial, int64_t slices);

/* The reductions' results on the GPU, owned by the threads: result tid + j
 * threads of each reduction in a float64 register, each tile summed in the
 * data's type first. init binds them (reductions whose bit is in skip are
 * left to the caller), tile adds a tile's events, store writes the slice's
 * partials (partial[i]: reduction i's buffer). */
typedef struct {
  int n;
  int acc[FUSED_MAX_ACCS], res_of[FUSED_MAX_ACCS];
  Env env_of[FUSED_MAX_ACCS];
  LExpr *owned_cond[FUSED_MAX_ACCS], *in_range[FUSED_MAX_ACCS];
} FusedOwners;
void fused_owners_init(FusedBuild *b, FusedOwners *o, unsigned skip);
void fused_owners_tile(FusedBuild *b, FusedOwners *o, LStmt *tile);
void fused_owners_store(FusedBuild *b, FusedOwners *o, const int *partial);

#endif
