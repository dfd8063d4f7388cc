/* CSV reader: comma-separated float64 values, one event per line, in one pass
 * over the mapped file. Spaces and tabs around fields, CRLF line ends, a UTF-8
 * byte-order mark, double-quoted fields and blank lines at the end are
 * tolerated. The first line is a header when one of its non-empty fields is
 * not a number (quoted fields count as text). Numbers are what Python's
 * float() reads in decimal; NaN and infinity literals are refused, since EM
 * cannot use them.
 *
 * Rows and columns are 1-based and rows are the file's lines, the header
 * included, as an editor numbers them. The messages:
 *   FILE: row R, column C: 'abc' is not a number
 *   FILE: row R, column C: 'nan' is not a finite number
 *   FILE: row R, column C: '1e999' is out of the range of float64
 *   FILE: row R, column C: empty field
 *   FILE: row R, column C: extra field (expected N columns, as in row F)
 *   FILE: row R, column C: missing field (expected N columns, as in row F)
 *   FILE: row R, column C: unterminated quoted field
 *   FILE: row R, column C: text after the closing quote
 *   FILE: row R: blank line between rows (only blank lines at the end are ignored)
 *   FILE: the file is empty
 *   FILE: no data rows (only a header)
 *   FILE: no data rows (only blank lines) */
#define _GNU_SOURCE /* strtod_l */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "data.h"

typedef enum { NUM_OK, NUM_EMPTY, NUM_BAD, NUM_NONFINITE, NUM_RANGE, NUM_NO_MEMORY } NumKind;

typedef struct {
  const char *path;
  locale_t c_locale; /* numbers use '.' whatever the application's locale */
  char **err;
  double *vals;
  size_t nvals, cap;
  int64_t cols;
  int64_t cols_row; /* the line that fixed the number of columns */
} Csv;

typedef struct {
  const char *s;
  size_t n;
  int quoted;
} Field;

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* A field quoted in a message: clipped, unprintable bytes as '?'. */
static void excerpt(const char *s, size_t n, char out[64]) {
  size_t k = n > 48 ? 45 : n, j = 0;
  for (size_t i = 0; i < k; i++) out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
  if (k < n) out[j++] = '.', out[j++] = '.', out[j++] = '.';
  out[j] = 0;
}

static int ieq(const char *s, size_t n, const char *word) {
  size_t k = strlen(word);
  if (n != k) return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] | 0x20) != word[i]) return 0;
  return 1;
}

static NumKind parse_number(const Csv *c, const char *s, size_t n, double *out) {
  while (n && is_blank(*s)) s++, n--;
  while (n && is_blank(s[n - 1])) n--;
  if (n == 0) return NUM_EMPTY;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if ((ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '+' || ch == 'e' || ch == 'E') continue;
    /* strtod would also take hex floats and "nan(...)": Python's float() does not */
    const char *w = s;
    size_t wn = n;
    if (*w == '+' || *w == '-') w++, wn--;
    return ieq(w, wn, "nan") || ieq(w, wn, "inf") || ieq(w, wn, "infinity") ? NUM_NONFINITE : NUM_BAD;
  }
  char small[128], *buf = n < sizeof small ? small : xmalloc(n + 1);
  if (!buf) return NUM_NO_MEMORY;
  memcpy(buf, s, n); /* strtod needs a terminator; the mapped file has none */
  buf[n] = 0;
  char *end;
  double v = strtod_l(buf, &end, c->c_locale);
  int whole = end == buf + n;
  if (buf != small) free(buf);
  if (!whole) return NUM_BAD;
  if (!isfinite(v)) return NUM_RANGE; /* overflow; underflow to a subnormal or zero is fine */
  *out = v;
  return NUM_OK;
}

static gmmc_status field_fail(const Csv *c, int64_t row, int64_t col, NumKind k, const Field *f) {
  if (k == NUM_NO_MEMORY) return oom_status(c->err, "a long number");
  char ex[64];
  excerpt(f->s, f->n, ex);
  const char *what = k == NUM_EMPTY       ? "empty field"
                     : k == NUM_NONFINITE ? "is not a finite number"
                     : k == NUM_RANGE     ? "is out of the range of float64"
                                          : "is not a number";
  if (k == NUM_EMPTY)
    return data_fail(c->err, GMMC_ERR_DATA, "%s: row %lld, column %lld: %s", c->path, (long long)row, (long long)col,
                     what);
  return data_fail(c->err, GMMC_ERR_DATA, "%s: row %lld, column %lld: '%s' %s", c->path, (long long)row, (long long)col,
                   ex, what);
}

/* One field from p; *next is the ',' after it or the end of the line. */
static gmmc_status next_field(const Csv *c, const char *p, const char *end, int64_t row, int64_t col, Field *f,
                              const char **next) {
  while (p < end && is_blank(*p)) p++;
  if (p < end && *p == '"') {
    const char *q = p + 1;
    for (;;) {
      const char *close = memchr(q, '"', (size_t)(end - q));
      if (!close)
        return data_fail(c->err, GMMC_ERR_DATA, "%s: row %lld, column %lld: unterminated quoted field", c->path,
                         (long long)row, (long long)col);
      if (close + 1 < end && close[1] == '"') { /* "" is a quote inside */
        q = close + 2;
        continue;
      }
      f->s = p + 1;
      f->n = (size_t)(close - p - 1);
      f->quoted = 1;
      p = close + 1;
      break;
    }
    while (p < end && is_blank(*p)) p++;
    if (p < end && *p != ',')
      return data_fail(c->err, GMMC_ERR_DATA, "%s: row %lld, column %lld: text after the closing quote", c->path,
                       (long long)row, (long long)col);
  } else {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *e = comma ? comma : end;
    f->s = p;
    f->n = (size_t)(e - p);
    f->quoted = 0;
    while (f->n && is_blank(f->s[f->n - 1])) f->n--;
    p = e;
  }
  *next = p;
  return GMMC_OK;
}

/* The header test for the first line; *fields counts its fields. */
static gmmc_status is_header(const Csv *c, const char *p, const char *end, int64_t row, int *header, int64_t *fields) {
  *header = 0;
  for (int64_t col = 1;; col++) {
    Field f;
    double v;
    gmmc_status s = next_field(c, p, end, row, col, &f, &p);
    if (s) return s;
    NumKind k = f.quoted ? NUM_OK : parse_number(c, f.s, f.n, &v);
    if (k == NUM_NO_MEMORY) return field_fail(c, row, col, k, &f);
    if (f.quoted ? f.n > 0 : k == NUM_BAD) *header = 1;
    if (p == end) {
      *fields = col;
      return GMMC_OK;
    }
    p++;
  }
}

static gmmc_status grow(Csv *c) {
  size_t cap = c->cap ? c->cap : (size_t)c->cols > 65536 ? (size_t)c->cols : 65536;
  while (cap - c->nvals < (size_t)c->cols) {
    if (cap > SIZE_MAX / 2 / sizeof(double))
      return data_fail(c->err, GMMC_ERR_OUT_OF_MEMORY, "%s: too many values", c->path);
    cap *= 2; /* geometric: one pass, amortized constant cost per value */
  }
  double *v = xrealloc(c->vals, cap * sizeof(double));
  if (!v) return oom_status(c->err, "the values read");
  c->vals = v;
  c->cap = cap;
  return GMMC_OK;
}

static gmmc_status data_row(Csv *c, const char *p, const char *end, int64_t row) {
  if (c->cap - c->nvals < (size_t)c->cols) {
    gmmc_status s = grow(c);
    if (s) return s;
  }
  double *dst = c->vals + c->nvals;
  for (int64_t col = 1;; col++) {
    Field f;
    gmmc_status s = next_field(c, p, end, row, col, &f, &p);
    if (s) return s;
    if (col > c->cols)
      return data_fail(c->err, GMMC_ERR_DATA,
                       "%s: row %lld, column %lld: extra field (expected %lld columns, as in row %lld)", c->path,
                       (long long)row, (long long)col, (long long)c->cols, (long long)c->cols_row);
    NumKind k = parse_number(c, f.s, f.n, &dst[col - 1]);
    if (k != NUM_OK) return field_fail(c, row, col, k, &f);
    if (p == end) {
      if (col < c->cols)
        return data_fail(c->err, GMMC_ERR_DATA,
                         "%s: row %lld, column %lld: missing field (expected %lld columns, as in row %lld)", c->path,
                         (long long)row, (long long)col + 1, (long long)c->cols, (long long)c->cols_row);
      break;
    }
    p++;
  }
  c->nvals += (size_t)c->cols;
  return GMMC_OK;
}

static gmmc_status parse(Csv *c, const char *buf, size_t len, int64_t *rows) {
  const char *p = buf, *end = buf + len;
  if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* byte-order mark of Excel's UTF-8 CSV */
  int64_t line = 0, blank_from = 0, header_line = 0;
  *rows = 0;
  while (p < end) {
    line++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *next = nl ? nl + 1 : end;
    if (e > p && e[-1] == '\r') e--;
    const char *q = p;
    while (q < e && is_blank(*q)) q++;
    if (q == e) {
      if (!blank_from) blank_from = line;
      p = next;
      continue;
    }
    if (blank_from)
      return data_fail(c->err, GMMC_ERR_DATA,
                       "%s: row %lld: blank line between rows (only blank lines at the end are ignored)", c->path,
                       (long long)blank_from);
    gmmc_status s;
    if (c->cols == 0) {
      int header;
      if ((s = is_header(c, p, e, line, &header, &c->cols))) return s;
      c->cols_row = line;
      if (header) {
        header_line = line;
        p = next;
        continue;
      }
    }
    if ((s = data_row(c, p, e, line))) return s;
    (*rows)++;
    p = next;
  }
  if (*rows == 0)
    return data_fail(c->err, GMMC_ERR_DATA, "%s: no data rows (only %s)", c->path,
                     header_line ? "a header" : "blank lines");
  return GMMC_OK;
}

gmmc_status data_read_csv(const char *path, gmmc_data *out, char **err) {
  if (!path || !out) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "data_read_csv: a NULL argument");
  memset(out, 0, sizeof *out);
  int fd;
  uint64_t size;
  gmmc_status s = data_open_file(path, &fd, &size, err);
  if (s) return s;
  gmmc_data file = {0};
  s = data_map_range(path, fd, 0, size, &file, err);
  close(fd);
  if (s) return s;
  madvise(file.map, file.map_len, MADV_SEQUENTIAL);
  Csv c = {path, newlocale(LC_NUMERIC_MASK, "C", (locale_t)0), err, NULL, 0, 0, 0, 0};
  int64_t rows = 0;
  if (c.c_locale == (locale_t)0)
    s = data_fail(err, GMMC_ERR_INTERNAL, "%s: cannot create the C locale: %s", path, strerror(errno));
  else
    s = parse(&c, file.values, (size_t)size, &rows);
  if (c.c_locale != (locale_t)0) freelocale(c.c_locale);
  data_release(&file);
  if (s) {
    free(c.vals);
    return s;
  }
  double *shrunk = xrealloc(c.vals, c.nvals * sizeof(double)); /* NULL: the larger block serves */
  out->owned = shrunk ? shrunk : c.vals;
  out->values = out->owned;
  out->rows = rows;
  out->cols = c.cols;
  out->dtype = GMMC_FLOAT64;
  return GMMC_OK;
}
