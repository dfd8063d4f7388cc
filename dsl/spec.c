/* Entry point of the front end: YAML -> statements -> checked AST. */
#include <stdlib.h>
#include <string.h>

#include "ast.h"

const char *const section_names[SEC_COUNT] = {"estep", "mstep", "derived", "predict", "once"};
const char *const func_names[] = {"exp",    "log",     "sqrt", "sq",     "abs", "log1p",
                                  "lgamma", "digamma", "pow",  "select", "min", "max"};
const char *const reduce_names[] = {"sum", "max", "min", "logsumexp", "argmin", "argmax"};
const char *const data_type_names[] = {"real", "integer", "binary"};
const char *const structure_names[] = {"none", "upper", "lower", "symmetric", "diagonal"};

Spec *spec_load(const char *name, const char *text, size_t len, char **err) {
  *err = NULL;
  Spec *s = xcalloc(1, sizeof(Spec));
  if (!s) return NULL;
  const char *nul = memchr(text, 0, len);
  if (nul) {
    *err = xasprintf("%s: error: the spec contains a NUL byte at offset %zu", name, (size_t)(nul - text));
    spec_free(s);
    return NULL;
  }
  jmp_buf escape;
  Front f = {.spec = s, .diag = {.src = &s->src, .escape = &escape}};
  if (setjmp(escape)) {
    /* an error's message, or none when the arena or the message ran out of memory */
    *err = s->arena.failed ? (free(f.diag.message), NULL) : f.diag.message;
    spec_free(s);
    return NULL;
  }
  s->arena.escape = &escape;
  s->src.name = arena_strdup(&s->arena, name);
  s->src.text = arena_strndup(&s->arena, text, len);
  s->src.len = len;
  s->component_size = -1;
  source_index_lines(&s->src, &s->arena);
  load_yaml(&f);
  check_spec(&f);
  s->arena.escape = NULL; /* the caller's allocations from it return NULL */
  return s;
}

void spec_free(Spec *s) {
  if (!s) return;
  arena_free(&s->arena);
  free(s);
}
