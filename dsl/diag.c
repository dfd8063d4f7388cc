#include "diag.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "util.h"

/* Line breaks as YAML counts them (libyaml's marks, which positions come
 * from, use the same): CR LF, CR, LF, NEL (U+0085), LS (U+2028) and PS
 * (U+2029). Returns the byte length of the break at i, 0 if there is none. */
static size_t line_break(const Source *src, size_t i) {
  const unsigned char *t = (const unsigned char *)src->text;
  size_t n = src->len;
  if (i >= n) return 0;
  if (t[i] == '\n') return 1;
  if (t[i] == '\r') return i + 1 < n && t[i + 1] == '\n' ? 2 : 1;
  if (t[i] == 0xC2 && i + 1 < n && t[i + 1] == 0x85) return 2;
  if (t[i] == 0xE2 && i + 2 < n && t[i + 1] == 0x80 && (t[i + 2] == 0xA8 || t[i + 2] == 0xA9)) return 3;
  return 0;
}

/* A UTF-8 byte order mark, which libyaml skips without counting a column. */
static size_t bom(const Source *src) { return src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; }

static int is_continuation(const Source *src, size_t i) {
  return i < src->len && ((unsigned char)src->text[i] & 0xC0) == 0x80;
}

void source_index_lines(Source *src, Arena *a) {
  size_t n = 1, br;
  for (size_t i = bom(src); i < src->len; i += br ? br : 1)
    if ((br = line_break(src, i))) n++;
  size_t *starts = arena_alloc(a, sizeof(size_t) * n), k = 0;
  starts[k++] = bom(src);
  for (size_t i = bom(src); i < src->len; i += br ? br : 1)
    if ((br = line_break(src, i))) starts[k++] = i + br;
  src->line_starts = starts;
  src->nlines = n;
}

size_t source_offset(const Source *src, size_t line, size_t col_chars) {
  size_t off = bom(src), br;
  if (src->line_starts && line < src->nlines) off = src->line_starts[line], line = 0;
  for (size_t l = 0; l < line && off < src->len;) {
    if ((br = line_break(src, off))) {
      off += br;
      l++;
    } else {
      off++;
    }
  }
  /* libyaml counts characters, not bytes */
  for (size_t c = 0; c < col_chars && off < src->len && !line_break(src, off); c++) {
    off++;
    while (is_continuation(src, off)) off++;
  }
  return off;
}

/* The byte offset where the line holding `offset` starts, and its number. */
static size_t line_start(const Source *src, size_t offset, int *line) {
  size_t ls = 0, i = 0, br;
  int l = 1;
  if (offset > src->len) offset = src->len;
  while (i < offset) {
    if ((br = line_break(src, i)) && i + br <= offset) {
      i += br;
      ls = i;
      l++;
    } else {
      i++;
    }
  }
  *line = l;
  return ls;
}

void source_line_col(const Source *src, size_t offset, int *line, int *col) {
  size_t ls = line_start(src, offset, line);
  if (ls == 0 && offset >= bom(src)) ls = bom(src);
  int c = 1; /* columns count characters, as libyaml's do */
  for (size_t i = ls; i < offset && i < src->len; i++)
    if (!is_continuation(src, i)) c++;
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
      while (is_continuation(src, i + 1) && i + 1 < end) sb_putc(&sb, src->text[++i]);
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

/* The message on one line: text quoted from the spec (a key may hold a line
 * break) has its control characters written as escapes, so that the source
 * line and the caret line always follow it. */
static void put_message(StrBuf *sb, const char *fmt, va_list ap) {
  StrBuf m = {0};
  sb_vprintf(&m, fmt, ap);
  for (size_t i = 0; i < m.len; i++) {
    unsigned char c = (unsigned char)m.data[i];
    if (c == '\n')
      sb_puts(sb, "\\n");
    else if (c == '\t')
      sb_puts(sb, "\\t");
    else if (c == '\r')
      sb_puts(sb, "\\r");
    else if (c < 0x20 || c == 0x7f)
      sb_printf(sb, "\\x%02x", c);
    else
      sb_putc(sb, (char)c);
  }
  sb_free(&m);
  sb_putc(sb, '\n');
}

void diag_verror(Diag *d, size_t begin, size_t end, const char *fmt, va_list ap) {
  d->message = diag_message(d->src, begin, end, fmt, ap);
  longjmp(*d->escape, 1);
}

char *diag_message(const Source *src, size_t begin, size_t end, const char *fmt, va_list ap) {
  if (begin > src->len) begin = src->len;
  int line, col;
  source_line_col(src, begin, &line, &col);
  StrBuf sb = {0};
  sb_printf(&sb, "%s:%d:%d: error: ", src->name, line, col);
  put_message(&sb, fmt, ap);
  /* the source line and a caret line under [begin, end), one column per
   * character; an empty line (an error at the end of the file) still gets
   * both, so every diagnostic has the same shape */
  size_t ls = line_start(src, begin, &line);
  if (ls == 0) ls = bom(src) <= begin ? bom(src) : 0;
  size_t le = begin;
  while (le < src->len && !line_break(src, le)) le++;
  /* a very long line is shown as a window around the error */
  enum { WINDOW = 160, BEFORE = 60 };
  size_t ws = ls, we = le;
  if (le - ls > WINDOW) {
    if (begin - ls > BEFORE) ws = begin - BEFORE;
    while (ws > ls && is_continuation(src, ws)) ws--;
    we = ws + WINDOW < le ? ws + WINDOW : le;
    while (we < le && is_continuation(src, we)) we++;
  }
  sb_puts(&sb, ws > ls ? "  ..." : "  ");
  sb_putn(&sb, src->text + ws, we - ws);
  sb_puts(&sb, we < le ? "...\n  " : "\n  ");
  if (ws > ls) sb_puts(&sb, "   ");
  for (size_t i = ws; i < begin; i++)
    if (!is_continuation(src, i)) sb_putc(&sb, src->text[i] == '\t' ? '\t' : ' ');
  sb_putc(&sb, '^');
  for (size_t i = begin + 1; i < end && i < we; i++)
    if (!is_continuation(src, i)) sb_putc(&sb, '~');
  sb_putc(&sb, '\n');
  return sb_take(&sb);
}
