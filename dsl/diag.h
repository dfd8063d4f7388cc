/* Diagnostics with source positions. Every error in a spec is reported as
 *   file:line:col: error: message
 * followed by the source line and a caret under the offending text. The front
 * end stops at the first error: the reporting call longjmps back to the entry
 * point, which owns all memory through an arena, so nothing leaks. */
#ifndef GMMC_DIAG_H
#define GMMC_DIAG_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include "util.h"

typedef struct {
  const char *name; /* shown in messages */
  const char *text; /* NUL-terminated */
  size_t len;
  const size_t *line_starts; /* byte offset of every line (source_index_lines), or NULL */
  size_t nlines;
} Source;

typedef struct {
  const Source *src;
  jmp_buf *escape;
  char *message; /* malloc'd full diagnostic after an error */
} Diag;

/* Byte offset of the 0-based (line, column-in-characters) position that
 * libyaml reports. */
size_t source_offset(const Source *src, size_t line, size_t col_chars);
/* Records where every line starts (in a's memory), so that source_offset
 * does not rescan the text from the start for every node of a spec. */
void source_index_lines(Source *src, Arena *a);
void source_line_col(const Source *src, size_t offset, int *line, int *col);

/* Reports an error spanning [begin, end) and escapes. */
_Noreturn void diag_error(Diag *d, size_t begin, size_t end, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

_Noreturn void diag_verror(Diag *d, size_t begin, size_t end, const char *fmt, va_list ap);
/* The whole diagnostic that diag_verror reports (malloc'd), for an error in
 * the spec's text found after the front end, by the lowering. */
char *diag_message(const Source *src, size_t begin, size_t end, const char *fmt, va_list ap);

/* The text of [begin, end), whitespace runs collapsed, clipped to 60 bytes;
 * for quoting the offending text in a message. Returns a malloc'd string. */
char *source_excerpt(const Source *src, size_t begin, size_t end);

#endif
