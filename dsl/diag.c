#include "diag.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "util.h"

size_t source_offset(const Source *src, size_t line, size_t col_chars) {
  size_t off = 0;
  for (size_t l = 0; l < line && off < src->len; off++)
    if (src->text[off] == '\n') l++;
  for (size_t c = 0; c < col_chars && off < src->len && src->text[off] != '\n'; c++) {
    off++; /* skip UTF-8 continuation bytes: libyaml counts characters */
    while (off < src->len && ((unsigned char)src->text[off] & 0xC0) == 0x80) off++;
  }
  return off;
}

void source_line_col(const Source *src, size_t offset, int *line, int *col) {
  int l = 1, c = 1;
  for (size_t i = 0; i < offset && i < src->len; i++) {
    if (src->text[i] == '\n') {
      l++;
      c = 1;
    } else {
      c++;
    }
  }
  *line = l;
  *col = c;
}

char *source_excerpt(const Source *src, size_t begin, size_t end) {
  StrBuf sb = {0};
  if (end > src->len) end = src->len;
  int space = 0;
  for (size_t i = begin; i < end; i++) {
    char ch = src->text[i];
    if (isspace((unsigned char)ch)) {
      space = 1;
      continue;
    }
    if (space && sb.len) sb_putc(&sb, ' ');
    space = 0;
    sb_putc(&sb, ch);
    if (sb.len >= 60) {
      sb_puts(&sb, "...");
      break;
    }
  }
  return sb_take(&sb);
}

void diag_error(Diag *d, size_t begin, size_t end, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(d, begin, end, fmt, ap);
}

void diag_verror(Diag *d, size_t begin, size_t end, const char *fmt, va_list ap) {
  const Source *src = d->src;
  int line, col;
  source_line_col(src, begin, &line, &col);
  StrBuf sb = {0};
  sb_printf(&sb, "%s:%d:%d: error: ", src->name, line, col);
  sb_vprintf(&sb, fmt, ap);
  sb_putc(&sb, '\n');
  /* the source line and a caret line under [begin, end) */
  size_t ls = begin;
  while (ls > 0 && src->text[ls - 1] != '\n') ls--;
  size_t le = begin;
  while (le < src->len && src->text[le] != '\n') le++;
  if (le > ls) {
    sb_puts(&sb, "  ");
    sb_putn(&sb, src->text + ls, le - ls);
    sb_puts(&sb, "\n  ");
    for (size_t i = ls; i < begin; i++) sb_putc(&sb, src->text[i] == '\t' ? '\t' : ' ');
    sb_putc(&sb, '^');
    for (size_t i = begin + 1; i < end && i < le; i++) sb_putc(&sb, '~');
    sb_putc(&sb, '\n');
  }
  d->message = sb_take(&sb);
  longjmp(*d->escape, 1);
}
