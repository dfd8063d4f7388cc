/* Lexer and recursive-descent parser for the expression language inside the
 * YAML statements. The grammar (docs/dsl.md):
 *
 *   statement := targets '=' expr
 *   targets   := target (',' target)*
 *   target    := NAME [ '[' indices ']' ]
 *   expr      := and ('||' and)*
 *   and       := cmp ('&&' cmp)*
 *   cmp       := add [ ('<'|'<='|'>'|'>='|'=='|'!=') add ]
 *   add       := mul (('+'|'-') mul)*
 *   mul       := unary (('*'|'/') unary)*
 *   unary     := ('-'|'!') unary | primary
 *   primary   := NUMBER | NAME | NAME '[' indices ']' | NAME '(' args ')' | '(' expr ')'
 *   indices   := NAME (',' NAME)*
 *
 * A call whose function is a reduction (sum max min logsumexp argmin argmax)
 * and whose first argument is a bare name followed by exactly one more
 * argument is a reduction over that index; `max(a, b)` and `min(a, b)` with
 * anything else as first argument are element functions. Whether the name is
 * really an index is decided by the checker.
 *
 * Limits that keep the recursive parser and the recursive passes after it
 * within the stack: at most 256 nested parentheses, calls and unary
 * operators, and at most 10000 operands and operators in one statement. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

typedef enum { T_EOF, T_NAME, T_NUM, T_PUNCT } TokKind;

typedef struct {
  TokKind kind;
  size_t begin, end;
  double num;
} Token;

typedef struct {
  Front *f;
  const char *text;
  size_t pos, end;
  Token tok;
  int depth; /* nesting of parentheses, calls and unary operators */
  int nodes; /* expression nodes built in this statement */
} Parser;

enum { MAX_DEPTH = 256, MAX_NODES = 10000 };

static _Noreturn void perr(Parser *p, size_t b, size_t e, const char *msg) { diag_error(&p->f->diag, b, e, "%s", msg); }

/* The quoted text of a message, kept in the spec's arena: a message is
 * reported by a longjmp, which would leak a malloc'd string. */
static const char *excerpt(Front *f, size_t b, size_t e) {
  return arena_adopt(&f->spec->arena, source_excerpt(&f->spec->src, b, e));
}

static int is_punct(Parser *p, const char *s) {
  size_t n = strlen(s);
  return p->tok.kind == T_PUNCT && p->tok.end - p->tok.begin == n && memcmp(p->text + p->tok.begin, s, n) == 0;
}

/* A character that starts no token: quoted whole (a UTF-8 sequence is one
 * character), with a hint where a likely intent is known. */
static _Noreturn void bad_char(Parser *p) {
  const unsigned char *t = (const unsigned char *)p->text;
  size_t b = p->pos, e = b + 1;
  while (e < p->end && e < b + 4 && (t[e] & 0xC0) == 0x80) e++;
  const char *hint = "";
  switch (t[b]) {
  case '&': hint = " (the logical and is '&&')"; break;
  case '|': hint = " (the logical or is '||')"; break;
  case '^': hint = " (there is no power operator: write sq(x) or x*x)"; break;
  case '{':
  case '}': hint = " (group with '(' and ')')"; break;
  case ';': hint = " (one statement per list item)"; break;
  case '\'':
  case '"': hint = " (quote a statement as a whole, or not at all)"; break;
  default: break;
  }
  if (t[b] < 0x20 || t[b] == 0x7F)
    diag_error(&p->f->diag, b, e,
               "unexpected control character 0x%02X: expected an operator, a name, a number, "
               "'(' or ')'",
               t[b]);
  diag_error(&p->f->diag, b, e, "unexpected character '%.*s'%s", (int)(e - b), p->text + b, hint);
}

static void next(Parser *p) {
  const char *t = p->text;
  while (p->pos < p->end && isspace((unsigned char)t[p->pos])) p->pos++;
  Token tok = {T_EOF, p->pos, p->pos, 0};
  if (p->pos >= p->end) {
    p->tok = tok;
    return;
  }
  char c = t[p->pos];
  if (isalpha((unsigned char)c) || c == '_') {
    while (p->pos < p->end && (isalnum((unsigned char)t[p->pos]) || t[p->pos] == '_')) p->pos++;
    tok.kind = T_NAME;
    tok.end = p->pos;
  } else if (isdigit((unsigned char)c) || (c == '.' && p->pos + 1 < p->end && isdigit((unsigned char)t[p->pos + 1]))) {
    /* strtod needs a terminated copy: the spec text continues past `end` */
    size_t b = p->pos, e = b;
    while (e < p->end && (isalnum((unsigned char)t[e]) || t[e] == '.' ||
                          ((t[e] == '+' || t[e] == '-') && (t[e - 1] == 'e' || t[e - 1] == 'E'))))
      e++;
    char buf[64];
    if (e - b >= sizeof buf) perr(p, b, e, "number too long (at most 63 characters)");
    memcpy(buf, t + b, e - b);
    buf[e - b] = 0;
    char *stop;
    errno = 0;
    double v = strtod(buf, &stop);
    if (*stop || stop == buf || buf[strspn(buf, "0123456789.eE+-")])
      diag_error(&p->f->diag, b, e,
                 "malformed number '%s': expected digits with an optional fraction and exponent, "
                 "as in 12, 0.5 or 1.0e-6",
                 buf);
    if (errno == ERANGE && (v > 1 || v < -1))
      diag_error(&p->f->diag, b, e, "number '%s' is out of range (beyond about 1.8e308)", buf);
    tok.kind = T_NUM;
    tok.num = v;
    tok.end = p->pos = e;
  } else {
    static const char *two[] = {"<=", ">=", "==", "!=", "&&", "||"};
    tok.kind = T_PUNCT;
    tok.end = p->pos + 1;
    for (size_t i = 0; i < sizeof two / sizeof *two; i++)
      if (p->pos + 1 < p->end && t[p->pos] == two[i][0] && t[p->pos + 1] == two[i][1]) tok.end = p->pos + 2;
    if (tok.end == p->pos + 1 && (c == 0 || !strchr("()[],=+-*/<>!", c))) bad_char(p);
    p->pos = tok.end;
  }
  p->tok = tok;
}

/* A closing ')' or ']' that must match the bracket opened at `open`. */
static void expect_close(Parser *p, const char *s, size_t open) {
  if (!is_punct(p, s)) {
    int line, col;
    source_line_col(&p->f->spec->src, open, &line, &col);
    char opener = *s == ')' ? '(' : '[';
    if (p->tok.kind == T_EOF)
      diag_error(&p->f->diag, p->tok.begin, p->tok.begin + 1,
                 "expected '%s' at end of statement, to close the '%c' at line %d, column %d", s, opener, line, col);
    const char *x = excerpt(p->f, p->tok.begin, p->tok.end);
    diag_error(&p->f->diag, p->tok.begin, p->tok.end,
               "expected '%s' before '%s', to close the '%c' at line %d, column %d", s, x, opener, line, col);
  }
  next(p);
}

static const char *tok_name(Parser *p) {
  return arena_strndup(&p->f->spec->arena, p->text + p->tok.begin, p->tok.end - p->tok.begin);
}

static Expr *new_expr(Parser *p, ExprKind k, size_t b, size_t e) {
  if (++p->nodes > MAX_NODES)
    diag_error(&p->f->diag, p->tok.begin, p->tok.end > p->tok.begin ? p->tok.end : p->tok.begin + 1,
               "statement too long: more than %d operands and operators", MAX_NODES);
  Expr *x = arena_alloc(&p->f->spec->arena, sizeof(Expr));
  x->kind = k;
  x->begin = b;
  x->end = e;
  return x;
}

/* After '['; `open` is the position of the '['. */
static IndexRef *parse_indices(Parser *p, size_t open, int *count, size_t *close_end) {
  PtrVec v = {0};
  Arena *a = &p->f->spec->arena;
  for (;;) {
    if (p->tok.kind != T_NAME) {
      if (p->tok.kind == T_EOF)
        diag_error(&p->f->diag, p->tok.begin, p->tok.begin + 1, "expected an index name at end of statement");
      const char *x = excerpt(p->f, p->tok.begin, p->tok.end);
      diag_error(&p->f->diag, p->tok.begin, p->tok.end,
                 "expected an index name, found '%s' (tensors are indexed by index names only)", x);
    }
    IndexRef *r = arena_alloc(a, sizeof(IndexRef));
    r->name = tok_name(p);
    r->begin = p->tok.begin;
    r->end = p->tok.end;
    r->id = -1;
    ptrvec_push(a, &v, r);
    next(p);
    if (!is_punct(p, ",")) break;
    next(p);
  }
  *close_end = p->tok.end;
  expect_close(p, "]", open);
  IndexRef *out = arena_alloc(a, sizeof(IndexRef) * (size_t)v.len);
  for (int i = 0; i < v.len; i++) out[i] = *(IndexRef *)v.items[i];
  *count = v.len;
  return out;
}

static Expr *parse_expr(Parser *p);

static int reduce_op(const char *name) {
  for (int i = 0; i <= R_ARGMAX; i++)
    if (strcmp(name, reduce_names[i]) == 0) return i;
  return -1;
}

static void enter(Parser *p, size_t at) {
  if (++p->depth > MAX_DEPTH)
    diag_error(&p->f->diag, at, at + 1, "expression nested too deeply (more than %d levels)", MAX_DEPTH);
}

static Expr *parse_call(Parser *p, const char *name, size_t b) {
  /* current token is '(' */
  size_t open = p->tok.begin;
  enter(p, open);
  next(p);
  int red = reduce_op(name);
  /* reduction: NAME ( IDX , expr ) */
  if (red >= 0 && p->tok.kind == T_NAME) {
    size_t save_pos = p->pos;
    Token save = p->tok;
    const char *idx = tok_name(p);
    next(p);
    if (is_punct(p, ",")) {
      next(p);
      int nodes = p->nodes;
      Expr *body = parse_expr(p);
      if (is_punct(p, ")")) {
        Expr *x = new_expr(p, E_REDUCE, b, p->tok.end);
        next(p);
        p->depth--;
        x->name = name;
        x->op = red;
        x->args[0] = body;
        x->nargs = 1;
        x->red.name = idx;
        x->red.begin = save.begin;
        x->red.end = save.end;
        x->red.id = -1;
        return x;
      }
      if (!is_punct(p, ",")) expect_close(p, ")", open);
      if (red != R_MAX && red != R_MIN)
        diag_error(&p->f->diag, p->tok.begin, p->tok.end,
                   "%s takes an index and one expression, as in %s(d, X[n,d]); found a third argument", name, name);
      p->nodes = nodes; /* max(a, b, c): reparsed below as a call */
    }
    /* not NAME ',' expr ')': an element call min(a, b) or max(a, b), or a
     * misuse of a reduction that the checker explains */
    p->pos = save_pos;
    p->tok = save;
  }
  Expr *x = new_expr(p, E_CALL, b, b);
  x->name = name;
  if (!is_punct(p, ")")) {
    for (;;) {
      if (x->nargs == 3) {
        const char *what = excerpt(p->f, p->tok.begin, p->tok.end);
        diag_error(&p->f->diag, p->tok.begin, p->tok.end,
                   "too many arguments to '%s' before '%s': no function takes more than 3", name, what);
      }
      x->args[x->nargs++] = parse_expr(p);
      if (!is_punct(p, ",")) break;
      next(p);
    }
  }
  x->end = p->tok.end;
  expect_close(p, ")", open);
  p->depth--;
  return x;
}

static Expr *parse_primary(Parser *p) {
  Token t = p->tok;
  if (t.kind == T_NUM) {
    Expr *x = new_expr(p, E_NUM, t.begin, t.end);
    x->num = t.num;
    next(p);
    return x;
  }
  if (t.kind == T_NAME) {
    const char *name = tok_name(p);
    next(p);
    if (is_punct(p, "(")) return parse_call(p, name, t.begin);
    if (is_punct(p, "[")) {
      size_t open = p->tok.begin;
      next(p);
      Expr *x = new_expr(p, E_ACCESS, t.begin, 0);
      x->name = name;
      x->idx = parse_indices(p, open, &x->nidx, &x->end);
      return x;
    }
    Expr *x = new_expr(p, E_NAME, t.begin, t.end);
    x->name = name;
    return x;
  }
  if (is_punct(p, "(")) {
    size_t open = t.begin;
    enter(p, open);
    next(p);
    Expr *x = parse_expr(p);
    expect_close(p, ")", open);
    p->depth--;
    return x;
  }
  if (t.kind == T_EOF) perr(p, t.begin, t.begin + 1, "expected an expression at end of statement");
  const char *x = excerpt(p->f, t.begin, t.end);
  diag_error(&p->f->diag, t.begin, t.end, "expected an expression, found '%s'", x);
}

static Expr *parse_unary(Parser *p) {
  if (is_punct(p, "-") || is_punct(p, "!")) {
    size_t b = p->tok.begin;
    int op = is_punct(p, "-") ? U_NEG : U_NOT;
    enter(p, b);
    next(p);
    Expr *a = parse_unary(p);
    p->depth--;
    Expr *x = new_expr(p, E_UNARY, b, a->end);
    x->op = op;
    x->args[0] = a;
    x->nargs = 1;
    return x;
  }
  return parse_primary(p);
}

static Expr *binary(Parser *p, int op, Expr *a, Expr *b) {
  Expr *x = new_expr(p, E_BINARY, a->begin, b->end);
  x->op = op;
  x->args[0] = a;
  x->args[1] = b;
  x->nargs = 2;
  return x;
}

static Expr *parse_mul(Parser *p) {
  Expr *x = parse_unary(p);
  for (;;) {
    int op = is_punct(p, "*") ? B_MUL : is_punct(p, "/") ? B_DIV : -1;
    if (op < 0) return x;
    next(p);
    x = binary(p, op, x, parse_unary(p));
  }
}

static Expr *parse_add(Parser *p) {
  Expr *x = parse_mul(p);
  for (;;) {
    int op = is_punct(p, "+") ? B_ADD : is_punct(p, "-") ? B_SUB : -1;
    if (op < 0) return x;
    next(p);
    x = binary(p, op, x, parse_mul(p));
  }
}

static Expr *parse_cmp(Parser *p) {
  Expr *x = parse_add(p);
  static const struct {
    const char *s;
    int op;
  } ops[] = {{"<", B_LT}, {"<=", B_LE}, {">", B_GT}, {">=", B_GE}, {"==", B_EQ}, {"!=", B_NE}};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    if (is_punct(p, ops[i].s)) {
      next(p);
      x = binary(p, ops[i].op, x, parse_add(p));
      for (size_t j = 0; j < sizeof ops / sizeof *ops; j++)
        if (is_punct(p, ops[j].s))
          perr(p, p->tok.begin, p->tok.end, "comparisons do not chain: write 'a < b && b < c' instead of 'a < b < c'");
      return x;
    }
  }
  return x;
}

static Expr *parse_and(Parser *p) {
  Expr *x = parse_cmp(p);
  while (is_punct(p, "&&")) {
    next(p);
    x = binary(p, B_AND, x, parse_cmp(p));
  }
  return x;
}

static Expr *parse_expr(Parser *p) {
  Expr *x = parse_and(p);
  while (is_punct(p, "||")) {
    next(p);
    x = binary(p, B_OR, x, parse_and(p));
  }
  return x;
}

static void init_parser(Parser *p, Front *f, size_t begin, size_t end) {
  p->f = f;
  p->text = f->spec->src.text;
  p->pos = begin;
  p->end = end;
  p->depth = 0;
  p->nodes = 0;
  next(p);
}

static void expect_end(Parser *p) {
  if (p->tok.kind != T_EOF) {
    const char *x = excerpt(p->f, p->tok.begin, p->tok.end);
    diag_error(&p->f->diag, p->tok.begin, p->tok.end, "expected an operator or the end of the statement, found '%s'",
               x);
  }
}

Expr *parse_expression(Front *f, size_t begin, size_t end) {
  Parser p;
  init_parser(&p, f, begin, end);
  Expr *x = parse_expr(&p);
  expect_end(&p);
  return x;
}

Stmt *parse_statement(Front *f, size_t begin, size_t end) {
  Parser p;
  init_parser(&p, f, begin, end);
  Arena *a = &f->spec->arena;
  Stmt *s = arena_alloc(a, sizeof(Stmt));
  s->begin = begin;
  s->end = end;
  PtrVec targets = {0};
  for (;;) {
    if (p.tok.kind != T_NAME) {
      if (p.tok.kind == T_EOF) {
        if (targets.len == 0) perr(&p, begin, end, "empty statement: expected an assignment such as 'L[n,m] = ...'");
        perr(&p, p.tok.begin, p.tok.begin + 1, "expected the name of another tensor assigned at end of statement");
      }
      const char *x = excerpt(f, p.tok.begin, p.tok.end);
      diag_error(&f->diag, p.tok.begin, p.tok.end, "expected the name of the tensor assigned, found '%s'", x);
    }
    Target *t = arena_alloc(a, sizeof(Target));
    t->name = tok_name(&p);
    t->begin = p.tok.begin;
    t->end = p.tok.end;
    next(&p);
    if (is_punct(&p, "[")) {
      size_t open = p.tok.begin;
      next(&p);
      t->has_brackets = 1;
      size_t close;
      t->idx = parse_indices(&p, open, &t->nidx, &close);
      t->end = close;
    }
    ptrvec_push(a, &targets, t);
    if (!is_punct(&p, ",")) break;
    next(&p);
  }
  if (!is_punct(&p, "=")) {
    if (p.tok.kind == T_EOF) {
      const char *x = excerpt(f, begin, end);
      diag_error(&f->diag, p.tok.begin, p.tok.begin + 1,
                 "expected '=' after '%s': a statement assigns an expression, as in 'L[n,m] = ...'", x);
    }
    const char *x = excerpt(f, p.tok.begin, p.tok.end);
    diag_error(&f->diag, p.tok.begin, p.tok.end, "expected '=' before '%s'", x);
  }
  next(&p);
  s->rhs = parse_expr(&p);
  expect_end(&p);
  s->ntargets = targets.len;
  s->targets = arena_alloc(a, sizeof(Target) * (size_t)targets.len);
  for (int i = 0; i < targets.len; i++) s->targets[i] = *(Target *)targets.items[i];
  return s;
}
