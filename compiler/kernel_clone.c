/* kernel_clone.h: a kernel body copied into another kernel. */
#include "kernel_clone.h"

#include <stdint.h>
#include <string.h>

/* Source node -> its copy, open addressing; the table grows in the
 * program's arena (a body has a few hundred nodes). */
typedef struct {
  Program *p;
  Kernel *dst;
  int off;
  LExpr *ctaid_x; /* what reads of ctaid.x become (NULL: themselves) */
  const LExpr **key;
  LExpr **val;
  size_t cap, used;
} Cloner;

static size_t slot_of(const Cloner *c, const LExpr *e) {
  size_t h = (size_t)(((uintptr_t)e >> 4) * 0x9E3779B97F4A7C15ull);
  for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1))
    if (!c->key[i] || c->key[i] == e) return i;
}

static void remember(Cloner *c, const LExpr *e, LExpr *copy) {
  if (2 * (c->used + 1) > c->cap) {
    Cloner grown = *c;
    grown.cap = c->cap ? 2 * c->cap : 256;
    grown.key = arena_alloc(&c->p->arena, sizeof(*grown.key) * grown.cap);
    grown.val = arena_alloc(&c->p->arena, sizeof(*grown.val) * grown.cap);
    grown.used = 0;
    for (size_t i = 0; i < c->cap; i++)
      if (c->key[i]) {
        size_t s = slot_of(&grown, c->key[i]);
        grown.key[s] = c->key[i];
        grown.val[s] = c->val[i];
        grown.used++;
      }
    *c = grown;
  }
  size_t s = slot_of(c, e);
  c->key[s] = e;
  c->val[s] = copy;
  c->used++;
}

static LExpr *clone_expr(Cloner *c, const LExpr *e);

/* A NULL-terminated index list, copied */
static LExpr **clone_idx(Cloner *c, LExpr *const *idx) {
  if (!idx) return NULL;
  int n = 0;
  while (idx[n]) n++;
  LExpr **out = arena_alloc(&c->p->arena, sizeof(LExpr *) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) out[i] = clone_expr(c, idx[i]);
  return out;
}

static LExpr *clone_expr(Cloner *c, const LExpr *e) {
  if (!e) return NULL;
  /* constants carry no variable: shared (lx_int hands out shared nodes too) */
  if (e->kind == LX_CONST) return (LExpr *)e;
  if (e->kind == LX_VAR) return lx_var(c->p, c->dst, e->var + c->off);
  if (e->kind == LX_SREG && e->op == SR_CTAID_X && c->ctaid_x) return c->ctaid_x;
  if (c->cap) {
    size_t s = slot_of(c, e);
    if (c->key[s] == e) return c->val[s];
  }
  LExpr *copy = arena_alloc(&c->p->arena, sizeof *copy);
  *copy = *e;
  copy->a = clone_expr(c, e->a);
  copy->b = clone_expr(c, e->b);
  copy->c = clone_expr(c, e->c);
  copy->idx = clone_idx(c, e->idx);
  remember(c, e, copy);
  return copy;
}

static LStmt *clone_stmt(Cloner *c, const LStmt *s) {
  if (!s) return NULL;
  LStmt *copy = arena_alloc(&c->p->arena, sizeof *copy);
  *copy = *s;
  switch (s->kind) {
  case LS_BLOCK:
    copy->body = arena_alloc(&c->p->arena, sizeof(LStmt *) * (size_t)(s->nbody + 1));
    copy->capbody = s->nbody + 1;
    for (int i = 0; i < s->nbody; i++) copy->body[i] = clone_stmt(c, s->body[i]);
    break;
  case LS_FOR:
    copy->var = s->var + c->off;
    copy->lo = clone_expr(c, s->lo);
    copy->hi = clone_expr(c, s->hi);
    copy->then = clone_stmt(c, s->then);
    break;
  case LS_ASSIGN:
    copy->var = s->var + c->off;
    copy->value = clone_expr(c, s->value);
    break;
  case LS_STORE:
  case LS_SSTORE:
    copy->idx = clone_idx(c, s->idx);
    copy->value = clone_expr(c, s->value);
    break;
  case LS_IF:
    copy->cond = clone_expr(c, s->cond);
    copy->then = clone_stmt(c, s->then);
    copy->els = clone_stmt(c, s->els);
    break;
  case LS_FAIL: copy->value = clone_expr(c, s->value); break;
  case LS_COPY_ASYNC:
    copy->idx = clone_idx(c, s->idx);
    copy->value = clone_expr(c, s->value);
    copy->cond = clone_expr(c, s->cond);
    break;
  case LS_SYNC:
  case LS_COPY_COMMIT:
  case LS_COPY_WAIT: break;
  case LS_MMA:
    copy->idx = arena_alloc(&c->p->arena, sizeof(LExpr *) * (MMA_ARGS + 1));
    for (int i = 0; i < MMA_ARGS; i++) copy->idx[i] = clone_expr(c, s->idx[i]);
    for (int i = 0; i < 4; i++) copy->mma_d[i] = s->mma_d[i] + c->off;
    break;
  }
  return copy;
}

LStmt *kernel_clone_body(Program *p, Kernel *dst, const Kernel *src, int *var_offset) {
  return kernel_clone_body_at(p, dst, src, var_offset, NULL);
}

LStmt *kernel_clone_body_at(Program *p, Kernel *dst, const Kernel *src, int *var_offset, LExpr *ctaid_x) {
  Cloner c = {.p = p, .dst = dst, .off = dst->nvars, .ctaid_x = ctaid_x};
  for (int v = 0; v < src->nvars; v++) kernel_var(p, dst, src->vars[v].name, src->vars[v].type);
  *var_offset = c.off;
  return clone_stmt(&c, src->body);
}
