/* The front end on valid specs and on the rules that decide what a spec means:
 *   - every shipped spec loads;
 *   - positions are exact in multi-line statements, quoted and block scalars,
 *     with CRLF line breaks and with UTF-8 text before the error;
 *   - statements in any order are sorted so that definitions come first;
 *   - max/min: a reduction when the first of two arguments is a declared
 *     index, an element function otherwise;
 *   - self-reference: only a parameter, in mstep, at the element it assigns. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/ast.h"
#include "dsl/shipped.h"

static int failures, checks;

#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    checks++;                                                                                                          \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                             \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fputc('\n', stderr);                                                                                             \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static Spec *load(const char *name, const char *text, char **err) {
  *err = NULL;
  return spec_load(name, text, strlen(text), err);
}

/* Loads text expecting success. */
static Spec *must_load(const char *name, const char *text) {
  char *err;
  Spec *s = load(name, text, &err);
  CHECK(s != NULL, "%s should load, but:\n%s", name, err ? err : "");
  free(err);
  return s;
}

/* Line and column (in characters) of the first occurrence of `marker`. */
static void position_of(const char *text, const char *marker, int *line, int *col) {
  const char *at = strstr(text, marker);
  *line = 1;
  *col = 1;
  if (!at) return;
  for (const char *p = text; p < at; p++) {
    if (*p == '\n') {
      (*line)++;
      *col = 1;
    } else if (((unsigned char)*p & 0xC0) != 0x80 && *p != '\r') {
      (*col)++;
    }
  }
}

/* Loading fails with a message that starts "name:L:C: error: " where L:C is
 * the position of `marker` in the text, and that contains `words`. */
static void expect_error_at(const char *name, const char *text, const char *marker, const char *words) {
  char *err;
  Spec *s = load(name, text, &err);
  CHECK(s == NULL, "%s should fail", name);
  spec_free(s);
  if (!err) return;
  CHECK(strstr(text, marker) != NULL, "%s: marker '%s' not in the text", name, marker);
  int line, col;
  position_of(text, marker, &line, &col);
  char want[256];
  snprintf(want, sizeof want, "%s:%d:%d: error: ", name, line, col);
  CHECK(strncmp(err, want, strlen(want)) == 0, "%s: expected the message to start with '%s', found:\n%s", name, want,
        err);
  CHECK(!words || strstr(err, words), "%s: expected the message to contain '%s', found:\n%s", name, words, err);
  free(err);
}

/* A small spec with the given estep and mstep statements (YAML list items). */
static char *spec_with(const char *estep, const char *mstep) {
  static const char head[] = "gmmc: 1\n"
                             "model: t\n"
                             "sizes: [N, M, D]\n"
                             "indices: {n: N, m: M, k: M, d: D, e: D}\n"
                             "data:\n"
                             "  X: [N, D]\n"
                             "params:\n"
                             "  w: [M]\n"
                             "  mu: [M, D]\n"
                             "  t: []\n"
                             "scalars:\n"
                             "  tau: 0.5\n"
                             "estep:\n";
  size_t n = strlen(head) + strlen(estep) + (mstep ? strlen(mstep) : 0) + 128;
  char *out = malloc(n);
  snprintf(out, n, "%s%s%s%s\noutputs:\n  objective: ll\n", head, estep, mstep ? "\nmstep:\n" : "", mstep ? mstep : "");
  return out;
}

/* The statement defining tensor `name` in section sec, and its index there. */
static Stmt *find_stmt(Spec *s, Section sec, const char *name, int *at) {
  for (int i = 0; i < s->stmts[sec].len; i++) {
    Stmt *st = s->stmts[sec].items[i];
    for (int t = 0; t < st->ntargets; t++)
      if (strcmp(st->targets[t].name, name) == 0) {
        if (at) *at = i;
        return st;
      }
  }
  return NULL;
}

/* The first node of the given kind reading or calling `name`. */
static Expr *find_expr(Expr *e, ExprKind kind, const char *name) {
  if (!e) return NULL;
  if (e->kind == kind && e->name && strcmp(e->name, name) == 0) return e;
  for (int i = 0; i < e->nargs; i++) {
    Expr *x = find_expr(e->args[i], kind, name);
    if (x) return x;
  }
  return NULL;
}

/* ---- shipped specs -------------------------------------------------------------- */

static void test_shipped(void) {
  CHECK(shipped_spec_count >= 5, "expected at least 5 shipped specs, found %d", shipped_spec_count);
  for (int i = 0; i < shipped_spec_count; i++) {
    const ShippedSpec *sh = &shipped_specs[i];
    char *err = NULL;
    Spec *s = spec_load(sh->file, sh->text, sh->len, &err);
    CHECK(s != NULL, "shipped spec %s does not load:\n%s", sh->file, err ? err : "");
    if (s) {
      CHECK(strcmp(s->model, sh->name) == 0, "%s: model '%s', expected '%s'", sh->file, s->model, sh->name);
      CHECK(s->objective && s->objective->rank == 0, "%s: no scalar objective", sh->file);
      CHECK(s->stmts[SEC_ESTEP].len > 0, "%s: no estep statements", sh->file);
    }
    spec_free(s);
    free(err);
  }
  CHECK(shipped_spec("full") && shipped_spec("kmeans"), "shipped_spec() does not find 'full' and 'kmeans'");
}

/* ---- positions --------------------------------------------------------------------- */

static void test_positions(void) {
  char *t;
  /* plain scalar over two lines, error on the second */
  t = spec_with("  - L[n,m] = w[m]\n"
                "      + sum(d, X[n,d] * Q[m,d])\n",
                NULL);
  expect_error_at("plain2.yaml", t, "Q[m,d]", "unknown tensor 'Q'");
  free(t);
  /* three lines, a syntax error on the third */
  t = spec_with("  - L[n,m] = w[m]\n"
                "      + sum(d, X[n,d]\n"
                "               * mu[m,d]) @ 2\n",
                NULL);
  expect_error_at("plain3.yaml", t, "@", "unexpected character '@'");
  free(t);
  /* a missing ')' is reported at the end of the statement, on its last line */
  t = spec_with("  - L[n,m] = w[m]\n"
                "      + sum(d, X[n,d]\n"
                "  - ll = 1\n",
                NULL);
  expect_error_at("unclosed.yaml", t, "\n  - ll", "expected ')' at end of statement");
  free(t);
  /* double-quoted, one line */
  t = spec_with("  - \"L[n,m] = w[m] + Q[m,n]\"\n", NULL);
  expect_error_at("dquote.yaml", t, "Q[m,n]", "unknown tensor 'Q'");
  free(t);
  /* single-quoted over two lines */
  t = spec_with("  - 'L[n,m] = w[m]\n"
                "     + sum(d, mu[d,m])'\n",
                NULL);
  expect_error_at("squote2.yaml", t, "d,m]", "index 'd' ranges over D but the first axis of 'mu' has size M");
  free(t);
  /* double-quoted over three lines */
  t = spec_with("  - \"L[n,m] = w[m]\n"
                "     + 1\n"
                "     + w[q]\"\n",
                NULL);
  expect_error_at("dquote3.yaml", t, "q]", "unknown index 'q'");
  free(t);
  /* literal block */
  t = spec_with("  - |\n"
                "    L[n,m] = w[m]\n"
                "      + sum(d, X[n,d] * mu[m,d]) + zz\n",
                NULL);
  expect_error_at("literal.yaml", t, "zz", "unknown name 'zz'");
  free(t);
  /* folded block with a comment after it */
  t = spec_with("  - >-\n"
                "    L[n,m] = w[m]\n"
                "      + sum(d, X[n,d] * mu[m,d]) +\n"
                "# the end\n",
                NULL);
  expect_error_at("folded.yaml", t, "\n# the end", "expected an expression at end of statement");
  free(t);
  /* CRLF line breaks */
  t = spec_with("  - L[n,m] = w[m]\r\n"
                "      + sum(d, X[n,d] * Q[m,d])\r\n",
                NULL);
  for (char *p = t; (p = strchr(p, '\n')); p++)
    if (p == t || p[-1] != '\r') {
      memmove(p + 1, p, strlen(p) + 1);
      *p++ = '\r';
    }
  expect_error_at("crlf.yaml", t, "Q[m,d]", "unknown tensor 'Q'");
  free(t);
  /* UTF-8 text before the error on the same line: columns count characters */
  expect_error_at("utf8.yaml",
                  "{gmmc: 1, model: t, description: \"\xc3\xa9t\xc3\xa9 \xe2\x86\x92 \xce\xbc\", sizes: [N, M], "
                  "data: {X: [N]}, params: {w: [K]}}\n",
                  "K]", "unknown size 'K'");
  /* a spec that loads: spans of targets and expressions point into the text */
  t = spec_with("  - 'L[n,m] = w[m]\n"
                "     + sum(d, X[n,d])'\n"
                "  - ll = sum(n, sum(m, L[n,m]))\n",
                NULL);
  Spec *s = must_load("spans.yaml", t);
  if (s) {
    Stmt *st = find_stmt(s, SEC_ESTEP, "L", NULL);
    CHECK(st && strncmp(s->src.text + st->targets[0].begin, "L[n,m] = ", 9) == 0,
          "the target of a quoted statement does not start after the quote");
    Expr *x = st ? find_expr(st->rhs, E_ACCESS, "X") : NULL;
    const char *want = strstr(t, "X[n,d]");
    CHECK(x && x->begin == (size_t)(want - t) && x->end == x->begin + 6,
          "the access X[n,d] on the second line of a quoted statement has the span [%zu, %zu), expected [%zu, %zu)",
          x ? x->begin : 0, x ? x->end : 0, (size_t)(want - t), (size_t)(want - t) + 6);
    Expr *r = st ? find_expr(st->rhs, E_REDUCE, "sum") : NULL;
    CHECK(r && r->red.begin == (size_t)(strstr(t, "sum(d") - t) + 4, "the index of the reduction is misplaced");
  }
  spec_free(s);
  free(t);
}

/* ---- dependency order ------------------------------------------------------------- */

/* Definitions come before uses within each section. */
static void check_order(Spec *s, const char *name) {
  for (int sec = 0; sec < SEC_COUNT; sec++) {
    PtrVec *v = &s->stmts[sec];
    for (int i = 0; i < v->len; i++) {
      Stmt *st = v->items[i];
      Expr *todo[256];
      int n = 0;
      todo[n++] = st->rhs;
      while (n) {
        Expr *e = todo[--n];
        if (e->kind == E_ACCESS && e->tensor && !e->prev && e->tensor->def && (int)e->tensor->def->section == sec) {
          int at = -1;
          for (int j = 0; j < v->len; j++)
            if (v->items[j] == e->tensor->def) at = j;
          CHECK(at >= 0 && at < i, "%s: in %s, '%s' (statement %d) reads '%s' defined by statement %d", name,
                section_names[sec], st->targets[0].name, i, e->tensor->name, at);
        }
        for (int a = 0; a < e->nargs && n < 256; a++) todo[n++] = e->args[a];
      }
    }
  }
}

/* The spec with the statements of each section permuted: reversed when
 * seed is 0, shuffled otherwise. */
static char *permute_sections(const char *text, size_t len, uint64_t seed) {
  char *out = malloc(len + 2);
  size_t w = 0, i = 0;
  while (i < len) {
    size_t le = i;
    while (le < len && text[le] != '\n') le++;
    if (le < len) le++;
    memcpy(out + w, text + i, le - i);
    w += le - i;
    int header = strncmp(text + i, "estep:", 6) == 0 || strncmp(text + i, "mstep:", 6) == 0 ||
                 strncmp(text + i, "derived:", 8) == 0 || strncmp(text + i, "predict:", 8) == 0;
    i = le;
    if (!header) continue;
    /* items: "  - " lines and their deeper continuation lines */
    size_t start[64], end[64];
    int n = 0;
    while (i < len && n < 64) {
      if (strncmp(text + i, "  - ", 4) != 0) break;
      start[n] = i;
      do {
        while (i < len && text[i] != '\n') i++;
        if (i < len) i++;
      } while (i < len && strncmp(text + i, "   ", 3) == 0);
      end[n++] = i;
    }
    int order[64];
    for (int k = 0; k < n; k++) order[k] = seed ? k : n - 1 - k;
    for (int k = n - 1; seed && k > 0; k--) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      int j = (int)((seed >> 33) % (uint64_t)(k + 1));
      int x = order[k];
      order[k] = order[j];
      order[j] = x;
    }
    for (int k = 0; k < n; k++) {
      memcpy(out + w, text + start[order[k]], end[order[k]] - start[order[k]]);
      w += end[order[k]] - start[order[k]];
    }
  }
  out[w] = 0;
  return out;
}

static void test_order(void) {
  for (int i = 0; i < shipped_spec_count; i++) {
    const ShippedSpec *sh = &shipped_specs[i];
    for (uint64_t seed = 0; seed < 6; seed++) {
      char *t = permute_sections(sh->text, sh->len, seed);
      CHECK(strlen(t) == sh->len, "%s: the permuted text has a different length", sh->file);
      Spec *s = must_load(sh->file, t);
      if (s) {
        check_order(s, sh->file);
        char *err = NULL;
        Spec *orig = spec_load(sh->file, sh->text, sh->len, &err);
        for (int sec = 0; orig && sec < SEC_COUNT; sec++)
          CHECK(s->stmts[sec].len == orig->stmts[sec].len, "%s: %s lost statements when permuted", sh->file,
                section_names[sec]);
        spec_free(orig);
        free(err);
      }
      spec_free(s);
      free(t);
    }
  }
  /* a chain written backwards */
  char *t = spec_with("  - c[n] = b[n] * 2\n"
                      "  - b[n] = a[n] + 1\n"
                      "  - a[n] = sum(d, X[n,d])\n"
                      "  - L[n,m] = c[n] + w[m]\n"
                      "  - ll = sum(n, sum(m, L[n,m]))\n",
                      NULL);
  Spec *s = must_load("backwards.yaml", t);
  if (s) {
    const char *want[] = {"a", "b", "c", "L", "ll"};
    for (int i = 0; i < 5 && i < s->stmts[SEC_ESTEP].len; i++) {
      Stmt *st = s->stmts[SEC_ESTEP].items[i];
      CHECK(strcmp(st->targets[0].name, want[i]) == 0, "backwards.yaml: statement %d is '%s', expected '%s'", i,
            st->targets[0].name, want[i]);
    }
  }
  spec_free(s);
  free(t);
}

/* ---- max and min ----------------------------------------------------------------- */

static Expr *rhs_of(const char *name, const char *estep, const char *target) {
  static Spec *keep;
  spec_free(keep);
  keep = NULL;
  char *t = spec_with(estep, NULL);
  keep = must_load(name, t);
  free(t);
  Stmt *st = keep ? find_stmt(keep, SEC_ESTEP, target, NULL) : NULL;
  return st ? st->rhs : NULL;
}

static void test_max_min(void) {
  Expr *e;
  /* an index first, one more argument: a reduction */
  e = rhs_of("max_reduce.yaml",
             "  - L[n,m] = sum(d, X[n,d]) * w[m]\n  - P[n] = max(m, L[n,m])\n  - ll = sum(n, P[n])\n", "P");
  CHECK(e && e->kind == E_REDUCE && e->op == R_MAX && e->red.id >= 0, "max(m, L[n,m]) is not a max reduction");
  e = rhs_of("min_reduce.yaml", "  - P[n] = min(d, X[n,d])\n  - ll = sum(n, P[n])\n", "P");
  CHECK(e && e->kind == E_REDUCE && e->op == R_MIN, "min(d, X[n,d]) is not a min reduction");
  /* anything else first: the element function */
  e = rhs_of("max_elem.yaml", "  - P[n,d] = max(X[n,d], 0)\n  - ll = sum(n, sum(d, P[n,d]))\n", "P");
  CHECK(e && e->kind == E_CALL && e->op == F_MAX && e->nargs == 2, "max(X[n,d], 0) is not the element max");
  e = rhs_of("min_scalar.yaml", "  - P[n,d] = min(tau, X[n,d])\n  - ll = sum(n, sum(d, P[n,d]))\n", "P");
  CHECK(e && e->kind == E_CALL && e->op == F_MIN && e->nargs == 2 && e->args[0]->ref == REF_SCALAR,
        "min(tau, X[n,d]) with tau a scalar is not the element min");
  e = rhs_of("max_index_second.yaml", "  - P[n,d] = max(0, d)\n  - ll = sum(n, sum(d, P[n,d]))\n", "P");
  CHECK(e && e->kind == E_CALL && e->op == F_MAX && e->args[1]->ref == REF_INDEX,
        "max(0, d) is not the element max of 0 and the index");
  e = rhs_of("max_size.yaml", "  - P[n,d] = max(D, X[n,d])\n  - ll = sum(n, sum(d, P[n,d]))\n", "P");
  CHECK(e && e->kind == E_CALL && e->args[0]->ref == REF_SIZE, "max(D, X[n,d]) with D a size is not the element max");
  e = rhs_of("nested.yaml", "  - P[n] = max(d, min(X[n,d], tau))\n  - ll = sum(n, P[n])\n", "P");
  CHECK(e && e->kind == E_REDUCE && e->args[0]->kind == E_CALL && e->args[0]->op == F_MIN,
        "max(d, min(X[n,d], tau)) is not a max reduction of an element min");
  rhs_of("free", "  - ll = 1\n", "ll");
  /* an index that is already bound: the reduction rule still applies, and the
   * message says how to write the element function */
  char *t = spec_with("  - P[n,d] = max(d, X[n,d])\n  - ll = sum(n, sum(d, P[n,d]))\n", NULL);
  expect_error_at("max_bound.yaml", t, "d, X[n,d])", "write max(x, d)");
  free(t);
  t = spec_with("  - P[n,d] = max(X[n,d], 0, 1)\n  - ll = 1\n", NULL);
  expect_error_at("max3.yaml", t, "max(X", "max takes 2 arguments, found 3");
  free(t);
  t = spec_with("  - P[n] = sum(tau, X[n,n])\n  - ll = 1\n", NULL);
  expect_error_at("sum_scalar.yaml", t, "tau,", "'tau' is not an index: sum needs an index");
  free(t);
  t = spec_with("  - P[n] = max(m, tau)\n  - ll = 1\n", NULL);
  expect_error_at("max_absent.yaml", t, "m, tau", "max over 'm', but 'm' does not occur");
  free(t);
}

/* ---- self-reference -------------------------------------------------------------- */

static void test_self_reference(void) {
  char *t;
  Spec *s;
  /* a parameter reads its previous value at the element it assigns; another
   * statement reading it sees the new value, so it comes after */
  t = spec_with("  - L[n,m] = w[m] + sum(d, X[n,d] * mu[m,d])\n"
                "  - ll = sum(n, sum(m, L[n,m]))\n",
                "  - v[m] = w[m] * 2\n"
                "  - w[m] = 0.5 * w[m] + 0.5 * sum(n, L[n,m])\n"
                "  - mu[m,d] = select(w[m] > 0, mu[m,d] + 1, mu[m,d])\n"
                "  - t = t + sum(m, w[m])\n");
  s = must_load("self_param.yaml", t);
  if (s) {
    int iw = -1, iv = -1, imu = -1, it = -1;
    Stmt *w = find_stmt(s, SEC_MSTEP, "w", &iw);
    find_stmt(s, SEC_MSTEP, "v", &iv);
    Stmt *mu = find_stmt(s, SEC_MSTEP, "mu", &imu);
    Stmt *tt = find_stmt(s, SEC_MSTEP, "t", &it);
    Expr *old = w ? find_expr(w->rhs, E_ACCESS, "w") : NULL;
    CHECK(old && old->prev, "w[m] inside w's own statement does not read the previous value");
    Expr *newer = mu ? find_expr(mu->rhs, E_ACCESS, "w") : NULL;
    CHECK(newer && !newer->prev, "w[m] in mu's statement should read the new value");
    Expr *mold = mu ? find_expr(mu->rhs, E_ACCESS, "mu") : NULL;
    CHECK(mold && mold->prev, "mu[m,d] in its own statement does not read the previous value");
    Expr *told = tt ? find_expr(tt->rhs, E_ACCESS, "t") : NULL;
    CHECK(told && told->prev, "the 0-d parameter t does not read its previous value in its own statement");
    CHECK(iw >= 0 && iv > iw && imu > iw && it > iw,
          "statements reading the new w must follow w's statement (w %d, v %d, mu %d, t %d)", iw, iv, imu, it);
    check_order(s, "self_param.yaml");
  }
  spec_free(s);
  free(t);
  /* the shipped k-means spec relies on it */
  const ShippedSpec *km = shipped_spec("kmeans");
  char *err = NULL;
  s = km ? spec_load(km->file, km->text, km->len, &err) : NULL;
  Stmt *c = s ? find_stmt(s, SEC_MSTEP, "centers", NULL) : NULL;
  CHECK(c && find_expr(c->rhs, E_ACCESS, "centers") && find_expr(c->rhs, E_ACCESS, "centers")->prev,
        "kmeans: centers[m,d] in its own statement does not read the previous value");
  spec_free(s);
  free(err);
  /* a temporary cannot read itself */
  t = spec_with("  - L[n,m] = L[n,m] + 1\n  - ll = 1\n", NULL);
  expect_error_at("self_temp.yaml", t, "L[n,m] + 1", "'L' is used in its own definition");
  free(t);
  t = spec_with("  - ll = ll + 1\n", NULL);
  expect_error_at("self_temp0.yaml", t, "ll + 1", "'ll' is used in its own definition");
  free(t);
  /* a parameter at another element */
  t = spec_with("  - ll = 1\n", "  - w[m] = sum(k, w[k]) / M\n");
  expect_error_at("self_other.yaml", t, "w[k]", "may read its own previous value only at the element it assigns");
  free(t);
  t = spec_with("  - ll = 1\n", "  - mu[m,d] = sum(e, mu[m,e]) / D\n");
  expect_error_at("self_other2.yaml", t, "mu[m,e]", "only at the element it assigns");
  free(t);
  /* a parameter outside mstep */
  t = spec_with("  - w[m] = w[m] + 1\n  - ll = 1\n", NULL);
  expect_error_at("self_estep.yaml", t, "w[m] =", "can only be assigned in mstep");
  free(t);
  /* two parameters reading each other's new values: a cycle */
  t = spec_with("  - ll = 1\n", "  - w[m] = w[m] + sum(d, mu[m,d])\n  - mu[m,d] = mu[m,d] * w[m]\n");
  expect_error_at("param_cycle.yaml", t, "w[m] = w", "cyclic dependency in mstep: 'w' reads 'mu', which reads 'w'");
  free(t);
}

int main(void) {
  test_shipped();
  test_positions();
  test_order();
  test_max_min();
  test_self_reference();
  printf("%d checks, %d failure%s\n", checks, failures, failures == 1 ? "" : "s");
  return failures != 0;
}
