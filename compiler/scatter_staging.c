/* The chunks of a scatter kernel's slice in shared memory (scatter.h):
 * the data tile x[n, d] and the weights w[n, m] of the block's components.
 *
 * Synchronous: each chunk is loaded after the barrier that opens it, then a
 * second barrier; every warp of the block waits for the loads' latency once
 * per chunk. Double-buffered (cp.async, compute capability 8.0 on): the
 * copies of chunk c + 1 go into the other half of each array before the
 * block computes on chunk c, so their latency passes under that work; a
 * wait and the barrier after it make them visible when chunk c + 1 opens.
 * The barrier that opens a chunk keeps the copies into a half from
 * overtaking the reads of it one chunk before. Both give the same values in
 * the same places, so a kernel's results are the same bits either way. */
#include "kernel_build.h"
#include "scatter.h"

LExpr *scatter_skewed(Program *p, LExpr *i) { return BIN(LB_ADD, i, BIN(LB_MUL, BIN(LB_DIV, i, I(32)), I(4))); }

int scatter_copy_async_ok(Lower *L, const ScatterForm *sf, LType T) {
  Program *p = L->p;
  return L->dev.copy_async && p->bufs[p->tensor_buf[sf->x->id]]->elem == T &&
         p->bufs[p->tensor_buf[sf->w->id]]->elem == T;
}

/* sh[at] = load where cond, else 0: an asynchronous copy or a store */
static void put(Program *p, Kernel *k, LStmt *blk, int async, LExpr *cond, int sh, LExpr *at, LExpr *load) {
  if (async)
    ls_append(p, blk, ls_copy_async(p, k, sh, at, load, cond));
  else
    stage_or_zero(p, k, blk, cond, sh, at, lx_cast(p, k->shared[sh].type, load));
}

/* The chunk of events from `base` into the half of the arrays at element
 * offsets xoff, woff. */
static void stage(Lower *L, Kernel *k, LStmt *blk, const ScatterStaging *s, LExpr *base, LExpr *xoff, LExpr *woff) {
  Program *p = L->p;
  const ScatterForm *sf = s->sf;
  LStmt *in = emit_strided(L, k, blk, "stage_x", s->kc * s->dp, s->threads, s->tid, s->flat);
  ls_append(p, in, ls_assign(p, s->kk, BIN(LB_DIV, V(s->flat), I(s->dp))));
  ls_append(p, in, ls_assign(p, s->vd, BIN(LB_REM, V(s->flat), I(s->dp))));
  ls_append(p, in, ls_assign(p, s->vn, BIN(LB_ADD, base, V(s->kk))));
  LExpr *col = s->skew ? scatter_skewed(p, V(s->vd)) : V(s->vd);
  LExpr *at = BIN(LB_ADD, xoff, BIN(LB_ADD, BIN(LB_MUL, V(s->kk), I(s->row)), col));
  LExpr **xi = idx_vec(p, 2);
  xi[0] = V(s->vn);
  xi[1] = V(s->vd);
  LExpr *inside = BIN(LB_AND, BIN(LB_LT, V(s->vn), V(s->last)), BIN(LB_LT, V(s->vd), I(sf->D)));
  put(p, k, in, s->async, inside, s->xs, at, lx_load(p, p->tensor_buf[sf->x->id], xi));
  /* the weights of the group's components (block x of the groups) */
  in = emit_strided(L, k, blk, "stage_w", s->kc * s->cg, s->threads, s->tid, s->flat);
  ls_append(p, in, ls_assign(p, s->vn, BIN(LB_ADD, base, BIN(LB_DIV, V(s->flat), I(s->cg)))));
  ls_append(p, in,
            ls_assign(p, s->wm,
                      BIN(LB_ADD, BIN(LB_MUL, lx_sreg(p, SR_CTAID_X), I(s->cg)), BIN(LB_REM, V(s->flat), I(s->cg)))));
  LExpr **wi = idx_vec(p, 2);
  wi[0] = V(s->vn);
  wi[1] = V(s->wm);
  inside = BIN(LB_AND, BIN(LB_LT, V(s->vn), V(s->last)), BIN(LB_LT, V(s->wm), I(sf->M)));
  put(p, k, in, s->async, inside, s->ws, BIN(LB_ADD, woff, V(s->flat)), lx_load(p, p->tensor_buf[sf->w->id], wi));
}

void scatter_staging_begin(Lower *L, Kernel *k, LStmt *body, ScatterStaging *s, LType T, int first) {
  Program *p = L->p;
  int halves = s->async ? 2 : 1;
  s->xs = kernel_shared(p, k, "x", T, halves * s->kc * s->row);
  s->ws = kernel_shared(p, k, "w", T, halves * s->kc * s->cg);
  s->kk = kernel_var(p, k, "kk", LT_I64);
  s->wm = kernel_var(p, k, "wm", LT_I64);
  s->xoff = kernel_var(p, k, "x_half", LT_I64);
  s->woff = kernel_var(p, k, "w_half", LT_I64);
  if (!s->async) return;
  /* (an empty slice has no chunk to wait for these copies) */
  LStmt *any = ls_when(p, body, BIN(LB_LT, V(first), V(s->last)));
  stage(L, k, any, s, V(first), I(0), I(0));
  ls_append(p, any, ls_copy_commit(p));
}

void scatter_stage_chunk(Lower *L, Kernel *k, LStmt *chunk, const ScatterStaging *s, int first, int base) {
  Program *p = L->p;
  if (!s->async) {
    ls_append(p, chunk, ls_assign(p, s->xoff, I(0)));
    ls_append(p, chunk, ls_assign(p, s->woff, I(0)));
    stage(L, k, chunk, s, V(base), I(0), I(0));
    ls_append(p, chunk, ls_sync(p));
    return;
  }
  /* the chunk's half: its number (from the slice's first event) mod 2 */
  LExpr *c = BIN(LB_DIV, BIN(LB_SUB, V(base), V(first)), I(s->kc));
  LExpr *half = BIN(LB_REM, c, I(2));
  ls_append(p, chunk, ls_assign(p, s->xoff, BIN(LB_MUL, half, I(s->kc * s->row))));
  ls_append(p, chunk, ls_assign(p, s->woff, BIN(LB_MUL, half, I(s->kc * s->cg))));
  /* the next chunk, where the slice has one, into the other half */
  LExpr *next = BIN(LB_ADD, V(base), I(s->kc));
  LStmt *more = ls_when(p, chunk, BIN(LB_LT, next, V(s->last)));
  stage(L, k, more, s, next, BIN(LB_SUB, I(s->kc * s->row), V(s->xoff)), BIN(LB_SUB, I(s->kc * s->cg), V(s->woff)));
  /* every lane commits (an empty group where there was no next chunk), so
   * that waiting for all but the newest group lands this chunk's copies */
  ls_append(p, chunk, ls_copy_commit(p));
  ls_append(p, chunk, ls_copy_wait(p, 1));
  ls_append(p, chunk, ls_sync(p));
}
