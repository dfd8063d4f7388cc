/* .npy files, NumPy's own format (numpy/lib/format.py):
 *
 *   "\x93NUMPY" major minor   header length: uint16 LE (1.0) or uint32 LE (2.0, 3.0)
 *   header: a Python dict literal, padded with spaces and ended by '\n':
 *           {'descr': '<f8', 'fortran_order': False, 'shape': (1000, 3), }
 *   payload: the values, from byte 10 + length (1.0) or 12 + length (2.0, 3.0)
 *
 * Reading maps only the pages that hold the requested rows, read-only; the
 * payload is never copied (except in the pathological case of a header that
 * leaves it misaligned for its dtype). Every error names the file, and errors
 * in the contents name the byte offset:
 *   FILE: byte OFFSET: message
 * The header is parsed by hand, not evaluated: keys in any order, either quote
 * style, any whitespace, trailing commas, Python 2's "3L" integers. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data.h"
#include "dsl/util.h"

#define NPY_MAX_HEADER (1u << 20) /* numpy.load refuses more than 10000 bytes unless told otherwise */
#define NPY_MAX_DIMS 64           /* NumPy's NPY_MAXDIMS */

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NATIVE_ORDER '>'
#else
#define NATIVE_ORDER '<'
#endif

typedef struct {
  int64_t rows, cols;
  int itemsize;      /* 1, 2, 4 or 8 */
  char kind;         /* 'f' float, 'i' signed, 'u' unsigned integer, 'b' boolean */
  char descr[4];     /* as in the file, for messages */
  uint64_t data_off; /* where the payload starts */
  char *int_refusal; /* integer or boolean: what a spec of real data says (malloc'd) */
} NpyInfo;

/* The header being parsed: its text and where it sits in the file. */
typedef struct {
  const char *path;
  const char *h;
  size_t n;
  uint64_t base;
  char **err;
} Hdr;

static gmmc_status hdr_fail(const Hdr *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static gmmc_status hdr_fail(const Hdr *p, size_t at, const char *fmt, ...) {
  StrBuf sb = {0};
  sb_printf(&sb, "%s: byte %llu: ", p->path, (unsigned long long)(p->base + at));
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&sb, fmt, ap);
  va_end(ap);
  if (p->err)
    *p->err = sb_take(&sb);
  else
    sb_free(&sb);
  return GMMC_ERR_DATA;
}

/* Header text quoted in a message: clipped, unprintable bytes as '?'. */
static void excerpt(const char *s, size_t n, char out[64]) {
  size_t k = n > 48 ? 45 : n, j = 0;
  for (size_t i = 0; i < k; i++) out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
  if (k < n) out[j++] = '.', out[j++] = '.', out[j++] = '.';
  out[j] = 0;
}

static ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_space(const Hdr *p, size_t i) {
  while (i < p->n && is_space(p->h[i])) i++;
  return i;
}

/* Skips one Python literal (a string, a bracketed group, or a bare word or
 * number) from i; *end is just past it. */
static gmmc_status skip_value(const Hdr *p, size_t i, size_t *end) {
  const char *h = p->h;
  char closers[32]; /* what each open bracket expects */
  size_t j = i;
  int depth = 0;
  while (j < p->n) {
    char c = h[j];
    if (c == '\'' || c == '"') {
      size_t k = j + 1;
      while (k < p->n && h[k] != c) k += h[k] == '\\' ? 2 : 1;
      if (k >= p->n) return hdr_fail(p, j, "malformed header: unterminated string");
      j = k + 1;
    } else if (c == '(' || c == '[' || c == '{') {
      if (depth == (int)sizeof closers) return hdr_fail(p, j, "malformed header: brackets nested too deeply");
      closers[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
      j++;
    } else if (c == ')' || c == ']' || c == '}') {
      if (depth == 0) break;
      if (closers[--depth] != c) return hdr_fail(p, i, "malformed header: unbalanced brackets");
      j++;
    } else if (depth == 0 && (c == ',' || is_space(c))) {
      break;
    } else {
      j++;
    }
    /* a complete string or group is the whole value */
    if (depth == 0 && (c == '\'' || c == '"' || c == ')' || c == ']' || c == '}')) break;
  }
  if (depth > 0) return hdr_fail(p, i, "malformed header: unbalanced brackets");
  if (j == i) return hdr_fail(p, i, "malformed header: expected a value");
  *end = j;
  return GMMC_OK;
}

static void format_shape(StrBuf *sb, const int64_t *dims, int rank) {
  sb_putc(sb, '(');
  for (int i = 0; i < rank; i++) sb_printf(sb, i ? ", %lld" : "%lld", (long long)dims[i]);
  sb_puts(sb, rank == 1 ? ",)" : ")");
}

/* A shape tuple "(N,)", "(N, D)", "()"; integers may carry Python 2's L. */
static gmmc_status parse_shape(const Hdr *p, size_t i, size_t end, int64_t *dims, int *rank) {
  const char *h = p->h;
  char ex[64];
  excerpt(h + i, end - i, ex);
  if (h[i] != '(') return hdr_fail(p, i, "malformed header: the shape %s is not a tuple", ex);
  size_t j = skip_space(p, i + 1);
  int r = 0, commas = 0;
  while (j < end && h[j] != ')') {
    if (h[j] == '-') return hdr_fail(p, j, "the shape %s has a negative dimension", ex);
    if (h[j] < '0' || h[j] > '9')
      return hdr_fail(p, j, "malformed header: the shape %s is not a tuple of integers", ex);
    if (r == NPY_MAX_DIMS) return hdr_fail(p, i, "the shape has more than %d dimensions", NPY_MAX_DIMS);
    int64_t v = 0;
    for (; j < end && h[j] >= '0' && h[j] <= '9'; j++) {
      int d = h[j] - '0';
      if (v > (INT64_MAX - d) / 10) return hdr_fail(p, j, "the shape %s has a dimension too large", ex);
      v = v * 10 + d;
    }
    if (j < end && (h[j] == 'L' || h[j] == 'l')) j++;
    dims[r++] = v;
    j = skip_space(p, j);
    if (j < end && h[j] == ',') {
      commas++;
      j = skip_space(p, j + 1);
    } else if (j < end && h[j] != ')') {
      return hdr_fail(p, j, "malformed header: the shape %s is not a tuple of integers", ex);
    }
  }
  if (j >= end || j + 1 != end) return hdr_fail(p, i, "malformed header: the shape %s is not a tuple", ex);
  /* "(3)" is the integer 3 in Python, not a tuple */
  if (r == 1 && commas == 0) return hdr_fail(p, i, "malformed header: the shape %s is not a tuple (write (N,))", ex);
  *rank = r;
  return GMMC_OK;
}

enum { K_DESCR, K_FORTRAN, K_SHAPE, NKEYS };
static const char *const KEY_NAMES[NKEYS] = {"descr", "fortran_order", "shape"};

/* The header dict: the three keys, each once, nothing else. */
static gmmc_status parse_dict(const Hdr *p, NpyInfo *info) {
  const char *h = p->h;
  size_t vb[NKEYS], ve[NKEYS];
  int seen[NKEYS] = {0};
  size_t i = skip_space(p, 0);
  if (i >= p->n || h[i] != '{') return hdr_fail(p, i, "malformed header: expected '{'");
  i = skip_space(p, i + 1);
  while (i < p->n && h[i] != '}') {
    char q = h[i];
    if (q != '\'' && q != '"') return hdr_fail(p, i, "malformed header: expected a quoted key or '}'");
    size_t kb = i + 1, ke = kb;
    while (ke < p->n && h[ke] != q) ke++;
    if (ke >= p->n) return hdr_fail(p, i, "malformed header: unterminated string");
    int k = 0;
    while (k < NKEYS && !(strlen(KEY_NAMES[k]) == ke - kb && memcmp(KEY_NAMES[k], h + kb, ke - kb) == 0)) k++;
    char ex[64];
    excerpt(h + kb, ke - kb, ex);
    if (k == NKEYS) return hdr_fail(p, i, "unexpected key '%s' in the header", ex);
    if (seen[k]) return hdr_fail(p, i, "duplicate key '%s' in the header", ex);
    i = skip_space(p, ke + 1);
    if (i >= p->n || h[i] != ':') return hdr_fail(p, i, "malformed header: expected ':' after '%s'", ex);
    i = skip_space(p, i + 1);
    gmmc_status s = skip_value(p, i, &ve[k]);
    if (s) return s;
    seen[k] = 1;
    vb[k] = i;
    i = skip_space(p, ve[k]);
    if (i < p->n && h[i] == ',')
      i = skip_space(p, i + 1);
    else if (i >= p->n || h[i] != '}')
      return hdr_fail(p, i, "malformed header: expected ',' or '}'");
  }
  if (i >= p->n) return hdr_fail(p, i, "malformed header: expected '}'");
  for (size_t j = i + 1; j < p->n; j++)
    if (!is_space(h[j])) return hdr_fail(p, j, "malformed header: unexpected text after the dictionary");
  for (int k = 0; k < NKEYS; k++)
    if (!seen[k]) return hdr_fail(p, 0, "the header has no '%s' key", KEY_NAMES[k]);

  /* descr: '<f4' or '<f8' ('|' and '=' mean the host's order); integers
   * '<i1'..'<i8', '<u1'..'<u8' and booleans '|b1' are read too, for specs
   * that declare integer or binary data (the refusal for the others is kept) */
  size_t b = vb[K_DESCR], e = ve[K_DESCR];
  char ex[64];
  if (h[b] != '\'' && h[b] != '"') {
    excerpt(h + b, e - b, ex);
    return hdr_fail(p, b, "dtype %s is not supported (expected '<f4' or '<f8')", ex);
  }
  const char *d = h + b + 1;
  size_t dn = e - b - 2;
  excerpt(d, dn, ex);
  int is_float = dn == 3 && d[1] == 'f' && (d[2] == '4' || d[2] == '8');
  int is_int = dn == 3 && (d[1] == 'i' || d[1] == 'u') && (d[2] == '1' || d[2] == '2' || d[2] == '4' || d[2] == '8');
  int is_bool = dn == 3 && d[1] == 'b' && d[2] == '1';
  if ((!is_float && !is_int && !is_bool) || (d[0] != '<' && d[0] != '>' && d[0] != '|' && d[0] != '='))
    return hdr_fail(p, b, "dtype '%s' is not supported (expected '<f4' float32 or '<f8' float64)", ex);
  if (d[0] != NATIVE_ORDER && d[0] != '|' && d[0] != '=' && d[2] != '1')
    return hdr_fail(p, b, "dtype '%s' has the wrong byte order for this host (convert with a.astype('%c%c%c'))", ex,
                    NATIVE_ORDER, d[1], d[2]);
  if (!is_float) {
    Hdr q = *p;
    q.err = &info->int_refusal;
    hdr_fail(&q, b, "dtype '%s' is not supported (expected '<f4' float32 or '<f8' float64)", ex);
    if (!info->int_refusal) return oom_status(p->err, "the message for integer data");
  }
  info->kind = d[1];
  info->itemsize = d[2] - '0';
  memcpy(info->descr, d, 3);
  info->descr[3] = 0;

  int fortran;
  b = vb[K_FORTRAN], e = ve[K_FORTRAN];
  if (e - b == 4 && memcmp(h + b, "True", 4) == 0)
    fortran = 1;
  else if (e - b == 5 && memcmp(h + b, "False", 5) == 0)
    fortran = 0;
  else {
    excerpt(h + b, e - b, ex);
    return hdr_fail(p, b, "malformed header: fortran_order is %s, expected True or False", ex);
  }

  int64_t dims[NPY_MAX_DIMS];
  int rank = 0;
  b = vb[K_SHAPE];
  gmmc_status s = parse_shape(p, b, ve[K_SHAPE], dims, &rank);
  if (s) return s;
  StrBuf shp = {0};
  format_shape(&shp, dims, rank);
  if (rank < 1 || rank > 2) {
    s = hdr_fail(p, b, "the shape %s has %d dimensions; expected (N,) or (N, D)", shp.data, rank);
  } else {
    info->rows = dims[0];
    info->cols = rank == 2 ? dims[1] : 1;
    if (info->rows == 0)
      s = hdr_fail(p, b, "the shape %s holds no rows", shp.data);
    else if (info->cols == 0)
      s = hdr_fail(p, b, "the shape %s holds no columns", shp.data);
    else if (fortran && info->rows > 1 && info->cols > 1) /* one row or column: both orders agree */
      s = hdr_fail(p, vb[K_FORTRAN],
                   "Fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(a) instead");
  }
  sb_free(&shp);
  return s;
}

/* Reads and checks the preamble, the header and the payload size. */
static gmmc_status npy_open(const char *path, int *fd_out, NpyInfo *info, char **err) {
  memset(info, 0, sizeof *info);
  int fd;
  uint64_t size;
  gmmc_status s = data_open_file(path, &fd, &size, err);
  if (s) return s;
  unsigned char pre[12];
  size_t want = size < sizeof pre ? (size_t)size : sizeof pre;
  ssize_t got = pread_full(fd, pre, want, 0);
  char *h = NULL;
  if (got < 0 || (size_t)got != want) {
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot read: %s", path, got < 0 ? strerror(errno) : "short read");
    goto done;
  }
  size_t magic_n = want < 6 ? want : 6;
  if (memcmp(pre, NPY_MAGIC, magic_n) != 0) {
    s = data_fail(err, GMMC_ERR_DATA, "%s: byte 0: not a .npy file (it does not start with \\x93NUMPY)", path);
    goto done;
  }
  if (size < 10) {
    s = data_fail(err, GMMC_ERR_DATA, "%s: byte %llu: the file ends inside the .npy preamble", path,
                  (unsigned long long)size);
    goto done;
  }
  unsigned major = pre[6], minor = pre[7];
  if (minor != 0 || major < 1 || major > 3) {
    s = data_fail(err, GMMC_ERR_DATA, "%s: byte 6: unsupported .npy format version %u.%u (1.0, 2.0 and 3.0 are read)",
                  path, major, minor);
    goto done;
  }
  uint64_t hoff = major == 1 ? 10 : 12;
  if (size < hoff) {
    s = data_fail(err, GMMC_ERR_DATA, "%s: byte %llu: the file ends inside the .npy preamble", path,
                  (unsigned long long)size);
    goto done;
  }
  uint64_t hlen = major == 1
                      ? (uint64_t)pre[8] | (uint64_t)pre[9] << 8
                      : (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
  if (hlen > NPY_MAX_HEADER) {
    s = data_fail(err, GMMC_ERR_DATA, "%s: byte 8: the header length %llu is over the limit of %u bytes", path,
                  (unsigned long long)hlen, NPY_MAX_HEADER);
    goto done;
  }
  if (hlen > size - hoff) {
    s = data_fail(err, GMMC_ERR_DATA,
                  "%s: byte %llu: the file ends inside the header (%llu bytes of header from byte %llu)", path,
                  (unsigned long long)size, (unsigned long long)hlen, (unsigned long long)hoff);
    goto done;
  }
  h = xmalloc((size_t)hlen + 1);
  if (!h) {
    s = oom_status(err, "the .npy header");
    goto done;
  }
  got = pread_full(fd, h, (size_t)hlen, hoff);
  if (got < 0 || (uint64_t)got != hlen) {
    s = data_fail(err, GMMC_ERR_IO, "%s: cannot read: %s", path, got < 0 ? strerror(errno) : "short read");
    goto done;
  }
  h[hlen] = 0;
  Hdr p = {path, h, (size_t)hlen, hoff, err};
  if ((s = parse_dict(&p, info))) goto done;
  info->data_off = hoff + hlen;
  uint64_t avail = size - info->data_off, need;
  if (__builtin_mul_overflow((uint64_t)info->rows, (uint64_t)info->cols, &need) ||
      __builtin_mul_overflow(need, (uint64_t)info->itemsize, &need) || need > (uint64_t)INT64_MAX) {
    s = data_fail(err, GMMC_ERR_DATA, "%s: byte %llu: the shape (%lld, %lld) is too large", path,
                  (unsigned long long)hoff, (long long)info->rows, (long long)info->cols);
    goto done;
  }
  if (need > avail) {
    s = data_fail(err, GMMC_ERR_DATA,
                  "%s: byte %llu: truncated data: %lld x %lld values of '%s' need %llu bytes, the file holds %llu",
                  path, (unsigned long long)info->data_off, (long long)info->rows, (long long)info->cols, info->descr,
                  (unsigned long long)need, (unsigned long long)avail);
    goto done;
  }
done:
  free(h);
  if (s) {
    free(info->int_refusal);
    info->int_refusal = NULL;
  }
  if (s)
    close(fd);
  else
    *fd_out = fd;
  return s;
}

gmmc_status data_npy_shape(const char *path, int64_t *rows, int64_t *cols, char **err) {
  if (!path) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "data_npy_shape: a NULL path");
  int fd;
  NpyInfo info;
  gmmc_status s = npy_open(path, &fd, &info, err);
  if (s) return s;
  close(fd);
  free(info.int_refusal);
  if (rows) *rows = info.rows;
  if (cols) *cols = info.cols;
  return GMMC_OK;
}

/* Integer and boolean values become float64 (the fit converts them further
 * if it computes in float32), exactly: a 64-bit integer beyond 2^53 is
 * refused with its row and column (1-based, in the file). */
static gmmc_status widen_integers(const char *path, const NpyInfo *info, int64_t row0, gmmc_data *out, char **err) {
  int64_t n = out->rows * out->cols;
  double *v = xmalloc(sizeof(double) * (size_t)n);
  if (!v) return oom_status(err, "the integer data widened to float64");
  const unsigned char *src = out->values;
  for (int64_t i = 0; i < n; i++) {
    const unsigned char *q = src + (size_t)i * (size_t)info->itemsize;
    int64_t si = 0;
    uint64_t ui = 0;
    switch (info->itemsize) {
    case 1: si = info->kind == 'i' ? (int64_t)(int8_t)q[0] : (int64_t)q[0]; break;
    case 2: {
      uint16_t u;
      memcpy(&u, q, 2);
      si = info->kind == 'i' ? (int64_t)(int16_t)u : (int64_t)u;
      break;
    }
    case 4: {
      uint32_t u;
      memcpy(&u, q, 4);
      si = info->kind == 'i' ? (int64_t)(int32_t)u : (int64_t)u;
      break;
    }
    default:
      memcpy(&ui, q, 8);
      si = (int64_t)ui;
      if ((info->kind == 'u' && ui > (UINT64_C(1) << 53)) ||
          (info->kind == 'i' && (si > (INT64_C(1) << 53) || si < -(INT64_C(1) << 53)))) {
        free(v);
        char num[32];
        if (info->kind == 'u')
          snprintf(num, sizeof num, "%llu", (unsigned long long)ui);
        else
          snprintf(num, sizeof num, "%lld", (long long)si);
        return data_fail(err, GMMC_ERR_DATA,
                         "%s: row %lld, column %lld: the integer %s is beyond 2^53, where float64 is not exact", path,
                         (long long)(row0 + i / out->cols + 1), (long long)(i % out->cols + 1), num);
      }
      if (info->kind == 'u') si = (int64_t)ui;
    }
    v[i] = (double)si;
  }
  data_release(out);
  out->owned = v;
  out->values = v;
  out->dtype = GMMC_FLOAT64;
  return GMMC_OK;
}

gmmc_status data_read_npy(const char *path, int64_t row_begin, int64_t row_end, gmmc_data *out, char **err) {
  if (!path || !out) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "data_read_npy: a NULL argument");
  memset(out, 0, sizeof *out);
  int fd;
  NpyInfo info;
  gmmc_status s = npy_open(path, &fd, &info, err);
  if (s) return s;
  if (row_end < 0) row_end = info.rows;
  if (row_begin < 0 || row_begin > row_end || row_end > info.rows) {
    close(fd);
    free(info.int_refusal);
    return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: rows [%lld, %lld) are outside the %lld rows of the file",
                     path, (long long)row_begin, (long long)row_end, (long long)info.rows);
  }
  if (row_begin == row_end) {
    close(fd);
    free(info.int_refusal);
    return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: rows [%lld, %lld) select no rows", path, (long long)row_begin,
                     (long long)row_end);
  }
  /* no overflow: the whole payload was checked to fit in the file */
  uint64_t row_bytes = (uint64_t)info.cols * (uint64_t)info.itemsize;
  uint64_t begin = info.data_off + (uint64_t)row_begin * row_bytes;
  uint64_t len = (uint64_t)(row_end - row_begin) * row_bytes;
  if (begin % (uint64_t)info.itemsize == 0) {
    s = data_map_range(path, fd, begin, len, out, err);
  } else if (len > SIZE_MAX || !(out->owned = xmalloc((size_t)len))) {
    /* a header that leaves the values misaligned: copy rather than read them unaligned */
    s = oom_status(err, "a copy of the values");
  } else {
    ssize_t got = pread_full(fd, out->owned, (size_t)len, begin);
    if (got < 0 || (uint64_t)got != len) {
      s = data_fail(err, GMMC_ERR_IO, "%s: cannot read: %s", path, got < 0 ? strerror(errno) : "short read");
      free(out->owned);
      out->owned = NULL;
    } else {
      out->values = out->owned;
    }
  }
  close(fd); /* a mapping outlives its descriptor */
  out->rows = row_end - row_begin;
  out->cols = info.cols;
  out->dtype = info.itemsize == 4 ? GMMC_FLOAT32 : GMMC_FLOAT64;
  if (!s && info.kind != 'f') s = widen_integers(path, &info, row_begin, out, err);
  if (s) {
    free(info.int_refusal);
    data_release(out);
    return s;
  }
  out->int_refusal = info.int_refusal;
  return GMMC_OK;
}

/* ---- writing ------------------------------------------------------------------------- */

/* Version 1.0, the header padded with spaces so that the payload starts at a
 * multiple of 64 bytes (as numpy.save does), ended by '\n'. */
static gmmc_status write_npy(const char *path, char type, int size, const void *values, int64_t rows, int64_t cols,
                             char **err) {
  if (!path) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "writing .npy: a NULL path");
  uint64_t bytes;
  if (rows < 0 || cols < 0 || __builtin_mul_overflow((uint64_t)rows, (uint64_t)(cols ? cols : 1), &bytes) ||
      __builtin_mul_overflow(bytes, (uint64_t)size, &bytes) || bytes > SIZE_MAX)
    return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: cannot write a %lld x %lld array", path, (long long)rows,
                     (long long)cols);
  if (bytes && !values) return data_fail(err, GMMC_ERR_INVALID_ARGUMENT, "%s: no values to write", path);
  char hdr[256];
  int n = cols ? snprintf(hdr + 10, 200, "{'descr': '%c%c%d', 'fortran_order': False, 'shape': (%lld, %lld), }",
                          NATIVE_ORDER, type, size, (long long)rows, (long long)cols)
               : snprintf(hdr + 10, 200, "{'descr': '%c%c%d', 'fortran_order': False, 'shape': (%lld,), }",
                          NATIVE_ORDER, type, size, (long long)rows);
  size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
  memset(hdr + 10 + n, ' ', total - 10 - (size_t)n);
  hdr[total - 1] = '\n';
  memcpy(hdr, NPY_MAGIC, 6);
  hdr[6] = 1, hdr[7] = 0;
  hdr[8] = (char)((total - 10) & 0xff), hdr[9] = (char)((total - 10) >> 8);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return data_fail(err, GMMC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  if (write_all(fd, hdr, total) || write_all(fd, values, (size_t)bytes)) {
    int e = errno;
    close(fd);
    unlink(path); /* no half-written array left behind */
    return data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, strerror(e));
  }
  if (close(fd) != 0) {
    int e = errno;
    unlink(path);
    return data_fail(err, GMMC_ERR_IO, "%s: cannot write: %s", path, strerror(e));
  }
  return GMMC_OK;
}

gmmc_status data_write_npy_i32(const char *path, const int32_t *values, int64_t rows, char **err) {
  return write_npy(path, 'i', 4, values, rows, 0, err);
}

gmmc_status data_write_npy_f64(const char *path, const double *values, int64_t rows, int64_t cols, char **err) {
  return write_npy(path, 'f', 8, values, rows, cols, err);
}
