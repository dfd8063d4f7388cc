/* .npy reading and writing: files written byte by byte here (versions 1.0,
 * 2.0 and 3.0, every header spelling NumPy and hand-written files use), read
 * back bit for bit, row slices, every refusal with its exact message, the
 * writers' exact layout, and random corruptions that must be refused cleanly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_test.h"
#include "runtime/io/data.h"

/* Builds a .npy file: preamble, dict padded with spaces to `align` (0: no
 * padding) and ended by '\n', then the payload. Returns the header offset. */
static size_t npy_file(const char *path, int major, const char *dict, int align, const void *payload, size_t nbytes) {
  size_t hoff = major == 1 ? 10 : 12;
  size_t hlen = strlen(dict) + 1;
  if (align) hlen = (hoff + hlen + (size_t)align - 1) / (size_t)align * (size_t)align - hoff;
  size_t total = hoff + hlen + nbytes;
  unsigned char *buf = malloc(total);
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major, buf[7] = 0;
  for (size_t i = 0; i < hoff - 8; i++) buf[8 + i] = (unsigned char)(hlen >> (8 * i));
  memset(buf + hoff, ' ', hlen);
  memcpy(buf + hoff, dict, strlen(dict));
  buf[hoff + hlen - 1] = '\n';
  if (nbytes) memcpy(buf + hoff + hlen, payload, nbytes);
  io_write(path, buf, total);
  free(buf);
  return hoff;
}

static void *random_bytes(size_t n) {
  unsigned char *p = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)io_rand();
  return p;
}

/* The offset of `needle` in a file made by npy_file. */
static unsigned long long at(size_t hoff, const char *dict, const char *needle) {
  const char *p = strstr(dict, needle);
  if (!p) io_fail(__FILE__, __LINE__, "'%s' not in %s", needle, dict);
  return (unsigned long long)(hoff + (size_t)(p - dict));
}

/* Every header spelling: key order, quotes, spaces, trailing comma, byte-order
 * characters, 1-D and 2-D, the three versions, aligned and misaligned payloads. */
static void test_round_trips(void) {
  static const char *const orders[] = {"<", "|", "="};
  for (int iter = 0; iter < 60; iter++) {
    int major = (int)io_range(1, 3);
    int f8 = (int)io_range(0, 1), rank = (int)io_range(1, 2);
    int64_t rows = io_range(1, 3000), cols = rank == 1 ? 1 : io_range(1, 17);
    size_t item = f8 ? 8 : 4, nbytes = (size_t)(rows * cols) * item;
    char descr[8], shape[64], fortran[32];
    snprintf(descr, sizeof descr, "%s%s", orders[io_range(0, 2)], f8 ? "f8" : "f4");
    const char *sp = io_range(0, 1) ? " " : "";
    if (rank == 1)
      snprintf(shape, sizeof shape, "(%s%lld%s,%s)", sp, (long long)rows, io_range(0, 1) ? "L" : "", sp);
    else
      snprintf(shape, sizeof shape, "(%lld,%s%lld%s)", (long long)rows, io_range(0, 1) ? " " : "  ", (long long)cols,
               io_range(0, 1) ? "," : "");
    /* Fortran order is the same layout when there is one column */
    snprintf(fortran, sizeof fortran, "%s", cols == 1 && io_range(0, 1) ? "True" : "False");
    char q = io_range(0, 1) ? '\'' : '"';
    char item_descr[64], item_fortran[64], item_shape[96];
    snprintf(item_descr, sizeof item_descr, "%cdescr%c:%s%c%s%c", q, q, sp, q, descr, q);
    snprintf(item_fortran, sizeof item_fortran, "%cfortran_order%c : %s", q, q, fortran);
    snprintf(item_shape, sizeof item_shape, "%cshape%c:%s", q, q, shape);
    const char *items[3] = {item_descr, item_fortran, item_shape};
    for (int i = 2; i > 0; i--) { /* shuffle the keys */
      int j = (int)io_range(0, i);
      const char *t = items[i];
      items[i] = items[j], items[j] = t;
    }
    char dict[512];
    snprintf(dict, sizeof dict, "{%s%s, %s,%s%s%s}", sp, items[0], items[1], sp, items[2], io_range(0, 1) ? ", " : "");
    int align = (int)(io_range(0, 3) == 0 ? 0 : io_range(0, 1) ? 64 : 16);
    void *payload = random_bytes(nbytes);
    const char *path = io_path("rt.npy");
    size_t hoff = npy_file(path, major, dict, align, payload, nbytes);
    size_t data_off = hoff + strlen(dict) + 1;
    if (align) data_off = (data_off + (size_t)align - 1) / (size_t)align * (size_t)align;

    gmmc_data d;
    EXPECT_OK(data_read_npy(path, 0, -1, &d, &err_));
    if (d.rows != rows || d.cols != cols || d.dtype != (f8 ? GMMC_FLOAT64 : GMMC_FLOAT32))
      io_fail(__FILE__, __LINE__, "%s: read %lld x %lld dtype %d", dict, (long long)d.rows, (long long)d.cols, d.dtype);
    CHECK(memcmp(d.values, payload, nbytes) == 0);
    if (data_off % item == 0) /* mapped, not copied */
      CHECK(d.map && !d.owned);
    else
      CHECK(d.owned && !d.map);
    data_release(&d);
    CHECK(!d.map && !d.owned && !d.values);
    int64_t r = 0, c = 0;
    EXPECT_OK(data_npy_shape(path, &r, &c, &err_));
    CHECK(r == rows && c == cols);
    free(payload);
  }
}

/* Slices map only the pages they need and start at their first row. */
static void test_slices(void) {
  long page = sysconf(_SC_PAGESIZE);
  int64_t rows = io_range(20000, 40000), cols = io_range(1, 9);
  size_t nbytes = (size_t)(rows * cols) * 8;
  double *x = malloc(nbytes);
  for (int64_t i = 0; i < rows * cols; i++) x[i] = io_normal();
  const char *path = io_path("slices.npy");
  char dict[128];
  snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%lld, %lld), }", (long long)rows,
           (long long)cols);
  npy_file(path, 1, dict, 64, x, nbytes);
  for (int k = 0; k < 40; k++) {
    int64_t b = io_range(0, rows - 1), e = io_range(b + 1, rows);
    if (k == 0) b = 0, e = rows;
    if (k == 1) b = rows - 1, e = rows;
    gmmc_data d;
    EXPECT_OK(data_read_npy(path, b, e, &d, &err_));
    CHECK(d.rows == e - b && d.cols == cols && d.dtype == GMMC_FLOAT64);
    CHECK(memcmp(d.values, x + b * cols, (size_t)((e - b) * cols) * 8) == 0);
    CHECK((uintptr_t)d.map % (uintptr_t)page == 0);
    size_t lead = (size_t)((const char *)d.values - (const char *)d.map);
    CHECK(lead < (size_t)page);
    CHECK(d.map_len == lead + (size_t)((e - b) * cols) * 8);
    data_release(&d);
  }
  gmmc_data d;
  EXPECT_ERR(data_read_npy(path, 5, rows + 1, &d, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: rows [5, %lld) are outside the %lld rows of the file", path, (long long)rows + 1, (long long)rows);
  EXPECT_ERR(data_read_npy(path, -1, 3, &d, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: rows [-1, 3) are outside the %lld rows of the file", path, (long long)rows);
  EXPECT_ERR(data_read_npy(path, 9, 4, &d, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: rows [9, 4) are outside the %lld rows of the file", path, (long long)rows);
  EXPECT_ERR(data_read_npy(path, 7, 7, &d, &err_), GMMC_ERR_INVALID_ARGUMENT, "%s: rows [7, 7) select no rows", path);
  free(x);
}

/* A header that must be refused, with the message after "FILE: byte N: ". */
static void refuse(int line, int major, const char *dict, const char *needle, const char *msg) {
  const char *path = io_path("bad.npy");
  double payload[64] = {0};
  size_t hoff = npy_file(path, major, dict, 64, payload, sizeof payload);
  size_t end = (hoff + strlen(dict) + 1 + 63) / 64 * 64; /* the end of the padded header */
  unsigned long long off = !needle ? hoff : !strcmp(needle, "$END") ? end : at(hoff, dict, needle);
  char *want = io_fmt("%s: byte %llu: %s", path, off, msg);
  gmmc_data d;
  char *err = NULL;
  gmmc_status s = data_read_npy(path, 0, -1, &d, &err);
  io_expect(__FILE__, line, s, err, GMMC_ERR_DATA, want);
  int64_t r, c;
  s = data_npy_shape(path, &r, &c, &err);
  io_expect(__FILE__, line, s, err, GMMC_ERR_DATA, want);
}

/* Integer and boolean payloads: widened to float64, the refusal a spec of
 * real data gives kept in int_refusal (byte offset included); a 64-bit
 * value beyond 2^53 refused with its row and column. */
static void test_integers(void) {
  const char *path = io_path("int.npy");
  int32_t i4[3] = {1, -2, 300000};
  size_t hoff = npy_file(path, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 64, i4, sizeof i4);
  gmmc_data d;
  char *err = NULL;
  gmmc_status s = data_read_npy(path, 0, -1, &d, &err);
  CHECK(s == GMMC_OK && d.dtype == GMMC_FLOAT64 && d.rows == 3 && d.cols == 1);
  if (!s) {
    const double *v = d.values;
    CHECK(v[0] == 1 && v[1] == -2 && v[2] == 300000);
    char *want = io_fmt("%s: byte %llu: dtype '<i4' is not supported (expected '<f4' float32 or '<f8' float64)", path,
                        (unsigned long long)hoff + 10);
    CHECK(d.int_refusal && strcmp(d.int_refusal, want) == 0);
    data_release(&d);
  }
  unsigned char b1[4] = {1, 0, 0, 1};
  npy_file(path, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }", 64, b1, sizeof b1);
  s = data_read_npy(path, 0, -1, &d, &err);
  CHECK(s == GMMC_OK && d.rows == 2 && d.cols == 2 && d.int_refusal);
  if (!s) {
    const double *v = d.values;
    CHECK(v[0] == 1 && v[1] == 0 && v[2] == 0 && v[3] == 1);
    data_release(&d);
  }
  uint64_t u8[4] = {1, 2, (UINT64_C(1) << 53) + 1, 4};
  npy_file(path, 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (2, 2), }", 64, u8, sizeof u8);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: row 2, column 1: the integer 9007199254740993 is beyond 2^53, where float64 is not exact", path);
}

static void test_header_refusals(void) {
#define F "'fortran_order': False"
  refuse(__LINE__, 1, "{'descr': '<i3', " F ", 'shape': (3,), }", "'<i3'",
         "dtype '<i3' is not supported (expected '<f4' float32 or '<f8' float64)");
  refuse(__LINE__, 1, "{'descr': '<f2', " F ", 'shape': (3,), }", "'<f2'",
         "dtype '<f2' is not supported (expected '<f4' float32 or '<f8' float64)");
  refuse(__LINE__, 2, "{'descr': '|O', " F ", 'shape': (3,), }", "'|O'",
         "dtype '|O' is not supported (expected '<f4' float32 or '<f8' float64)");
  refuse(__LINE__, 1, "{'descr': '<c16', " F ", 'shape': (3,), }", "'<c16'",
         "dtype '<c16' is not supported (expected '<f4' float32 or '<f8' float64)");
  refuse(__LINE__, 1, "{'descr': '>f4', " F ", 'shape': (3,), }", "'>f4'",
         "dtype '>f4' has the wrong byte order for this host (convert with a.astype('<f4'))");
  refuse(__LINE__, 3, "{'descr': '>f8', " F ", 'shape': (3,), }", "'>f8'",
         "dtype '>f8' has the wrong byte order for this host (convert with a.astype('<f8'))");
  refuse(__LINE__, 1, "{'descr': [('x', '<f4'), ('y', '<f4')], " F ", 'shape': (3,), }", "[(",
         "dtype [('x', '<f4'), ('y', '<f4')] is not supported (expected '<f4' or '<f8')");
  refuse(__LINE__, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }", "True",
         "Fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(a) instead");
  refuse(__LINE__, 1, "{'descr': '<f8', 'fortran_order': 0, 'shape': (3, 4), }", "0,",
         "malformed header: fortran_order is 0, expected True or False");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (2, 3, 4), }", "(2",
         "the shape (2, 3, 4) has 3 dimensions; expected (N,) or (N, D)");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (), }", "()",
         "the shape () has 0 dimensions; expected (N,) or (N, D)");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (0, 3), }", "(0", "the shape (0, 3) holds no rows");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (0,), }", "(0", "the shape (0,) holds no rows");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (5, 0), }", "(5", "the shape (5, 0) holds no columns");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (3), }", "(3)",
         "malformed header: the shape (3) is not a tuple (write (N,))");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': [3, 4], }", "[3",
         "malformed header: the shape [3, 4] is not a tuple");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (-1, 4), }", "-1",
         "the shape (-1, 4) has a negative dimension");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (3, x), }", "x)",
         "malformed header: the shape (3, x) is not a tuple of integers");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (99999999999999999999, 1), }", "99, 1)",
         "the shape (99999999999999999999, 1) has a dimension too large");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (3, 4), 'extra': 1}", "'extra'",
         "unexpected key 'extra' in the header");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (3, 4), 'descr': '<f8'}", "'descr': '<f8'}",
         "duplicate key 'descr' in the header");
  refuse(__LINE__, 1, "{'descr': '<f8', " F "}", NULL, "the header has no 'shape' key");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (3, 4)} x", "x",
         "malformed header: unexpected text after the dictionary");
  refuse(__LINE__, 1, "'descr': '<f8'", NULL, "malformed header: expected '{'");
  refuse(__LINE__, 1, "{'descr': '<f8}", "'<f8", "malformed header: unterminated string");
  refuse(__LINE__, 1, "{'descr' '<f8', " F ", 'shape': (3, 4)}", "'<f8'",
         "malformed header: expected ':' after 'descr'");
  refuse(__LINE__, 1, "{'descr': '<f8' " F ", 'shape': (3, 4)}", "'fortran", "malformed header: expected ',' or '}'");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': ((3, 4)}", "((", "malformed header: unbalanced brackets");
  refuse(__LINE__, 1, "{descr: '<f8', " F ", 'shape': (3, 4)}", "descr",
         "malformed header: expected a quoted key or '}'");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (3, 4)", "$END", "malformed header: expected ',' or '}'");
  refuse(__LINE__, 1, "{'descr': '<f8', " F ", 'shape': (3, 4),", "$END", "malformed header: expected '}'");
#undef F
}

static void test_file_refusals(void) {
  gmmc_data d;
  const char *path = io_path("missing.npy");
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_IO, "%s: cannot open: No such file or directory", path);
  EXPECT_ERR(data_read_npy(io_dir(), 0, -1, &d, &err_), GMMC_ERR_IO, "%s: not a regular file", io_dir());
  path = io_path("empty.npy");
  io_write(path, "", 0);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA, "%s: the file is empty", path);
  path = io_path("text.npy");
  io_write(path, "1,2,3\n", 6);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 0: not a .npy file (it does not start with \\x93NUMPY)", path);
  io_write(path, "\x93NUM", 4);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA, "%s: byte 4: the file ends inside the .npy preamble",
             path);
  io_write(path, "\x93NUMPY\x02\x00\x10\x00", 10);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 10: the file ends inside the .npy preamble", path);
  io_write(path, "\x93NUMPY\x04\x00\x10\x00\x00\x00", 12);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 6: unsupported .npy format version 4.0 (1.0, 2.0 and 3.0 are read)", path);
  io_write(path, "\x93NUMPY\x01\x01\x10\x00\x00\x00", 12);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 6: unsupported .npy format version 1.1 (1.0, 2.0 and 3.0 are read)", path);
  io_write(path, "\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 8: the header length 2147483647 is over the limit of 1048576 bytes", path);
  io_write(path, "\x93NUMPY\x01\x00\x64\x00{'descr': '<f8'", 25);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 25: the file ends inside the header (100 bytes of header from byte 10)", path);

  /* truncated payload: the expected and the actual byte counts */
  double x[30];
  for (int i = 0; i < 30; i++) x[i] = io_normal();
  const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3), }";
  size_t data_off = (npy_file(path, 1, dict, 64, x, 100) + strlen(dict) + 1 + 63) / 64 * 64;
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte %zu: truncated data: 10 x 3 values of '<f8' need 240 bytes, the file holds 100", path, data_off);
  EXPECT_ERR(data_npy_shape(path, NULL, NULL, &err_), GMMC_ERR_DATA,
             "%s: byte %zu: truncated data: 10 x 3 values of '<f8' need 240 bytes, the file holds 100", path, data_off);
  npy_file(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 64, x, 8);
  EXPECT_ERR(data_read_npy(path, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 10: the shape (4611686018427387904, 4) is too large", path);
  /* extra bytes after the payload are ignored, as numpy.load does */
  npy_file(path, 1, dict, 64, x, sizeof x);
  FILE *f = fopen(path, "ab");
  fputs("trailing", f);
  fclose(f);
  EXPECT_OK(data_read_npy(path, 0, -1, &d, &err_));
  CHECK(d.rows == 10 && d.cols == 3 && memcmp(d.values, x, sizeof x) == 0);
  data_release(&d);
}

/* The writers: exact bytes (numpy.save's layout), and read back. */
static void test_writers(void) {
  int64_t rows = io_range(1, 500), cols = io_range(1, 12);
  double *x = malloc(sizeof(double) * (size_t)(rows * cols));
  for (int64_t i = 0; i < rows * cols; i++) x[i] = io_normal() * 1e3;
  const char *path = io_path("out_f64.npy");
  EXPECT_OK(data_write_npy_f64(path, x, rows, cols, &err_));
  size_t n;
  char *buf = io_read(path, &n);
  char *want =
      io_fmt("{'descr': '<f8', 'fortran_order': False, 'shape': (%lld, %lld), }", (long long)rows, (long long)cols);
  size_t hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
  CHECK(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
  CHECK((10 + hlen) % 64 == 0 && buf[10 + hlen - 1] == '\n');
  CHECK(memcmp(buf + 10, want, strlen(want)) == 0);
  for (size_t i = 10 + strlen(want); i < 10 + hlen - 1; i++) CHECK(buf[i] == ' ');
  CHECK(n == 10 + hlen + sizeof(double) * (size_t)(rows * cols));
  CHECK(memcmp(buf + 10 + hlen, x, n - 10 - hlen) == 0);
  free(buf);
  gmmc_data d;
  EXPECT_OK(data_read_npy(path, 0, -1, &d, &err_));
  CHECK(d.rows == rows && d.cols == cols && d.dtype == GMMC_FLOAT64 && d.map);
  CHECK(memcmp(d.values, x, sizeof(double) * (size_t)(rows * cols)) == 0);
  data_release(&d);

  /* cols == 0: the 1-D shape (rows,) */
  EXPECT_OK(data_write_npy_f64(path, x, rows, 0, &err_));
  buf = io_read(path, &n);
  want = io_fmt("{'descr': '<f8', 'fortran_order': False, 'shape': (%lld,), }", (long long)rows);
  CHECK(memcmp(buf + 10, want, strlen(want)) == 0);
  free(buf);
  EXPECT_OK(data_read_npy(path, 0, -1, &d, &err_));
  CHECK(d.rows == rows && d.cols == 1 && memcmp(d.values, x, sizeof(double) * (size_t)rows) == 0);
  data_release(&d);

  int32_t *labels = malloc(sizeof(int32_t) * (size_t)rows);
  for (int64_t i = 0; i < rows; i++) labels[i] = (int32_t)io_rand();
  path = io_path("out_i32.npy");
  EXPECT_OK(data_write_npy_i32(path, labels, rows, &err_));
  buf = io_read(path, &n);
  hlen = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
  want = io_fmt("{'descr': '<i4', 'fortran_order': False, 'shape': (%lld,), }", (long long)rows);
  CHECK((10 + hlen) % 64 == 0 && buf[10 + hlen - 1] == '\n');
  CHECK(memcmp(buf + 10, want, strlen(want)) == 0);
  CHECK(n == 10 + hlen + 4 * (size_t)rows && memcmp(buf + 10 + hlen, labels, 4 * (size_t)rows) == 0);
  free(buf);
  /* labels read back as integers (widened), which a spec of real data refuses */
  EXPECT_OK(data_read_npy(path, 0, -1, &d, &err_));
  want = io_fmt("%s: byte 20: dtype '<i4' is not supported (expected '<f4' float32 or '<f8' float64)", path);
  CHECK(d.int_refusal && strcmp(d.int_refusal, want) == 0);
  for (int64_t i = 0; i < rows; i++) CHECK(((const double *)d.values)[i] == labels[i]);
  data_release(&d);

  /* an empty array is a valid file */
  EXPECT_OK(data_write_npy_i32(path, NULL, 0, &err_));
  buf = io_read(path, &n);
  CHECK(n % 64 == 0 && strstr(buf + 10, "'shape': (0,), }")); /* past the preamble's NUL bytes */
  free(buf);

  path = io_path("no/such/dir.npy");
  EXPECT_ERR(data_write_npy_f64(path, x, rows, cols, &err_), GMMC_ERR_IO,
             "%s: cannot create: No such file or directory", path);
  EXPECT_ERR(data_write_npy_f64(path, x, -1, cols, &err_), GMMC_ERR_INVALID_ARGUMENT,
             "%s: cannot write a -1 x %lld array", path, (long long)cols);
  free(labels);
  free(x);
}

static volatile unsigned char sink;

/* Random corruptions of a valid file: refused with a message or read within
 * the file's bounds; never a crash (run under ASan for the real proof). */
static void test_corruptions(void) {
  const char *path = io_path("fuzz.npy");
  int64_t rows = 37, cols = 5;
  float x[37 * 5];
  for (int i = 0; i < 37 * 5; i++) x[i] = (float)io_normal();
  char dict[128];
  snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }", (long long)rows,
           (long long)cols);
  npy_file(path, (int)io_range(1, 3), dict, 64, x, sizeof x);
  size_t n;
  unsigned char *orig = (unsigned char *)io_read(path, &n);
  unsigned char *buf = malloc(n);
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(buf, orig, n);
    size_t len = n;
    int edits = (int)io_range(1, 4);
    for (int e = 0; e < edits; e++) {
      size_t pos = (size_t)io_range(0, 127);
      switch (io_range(0, 3)) {
      case 0: buf[pos] = (unsigned char)io_rand(); break;
      case 1: buf[pos] = "{}()[]',: \"0123456789LTF\n"[io_range(0, 25)]; break;
      case 2: len = (size_t)io_range(0, (int64_t)len); break;
      case 3: buf[8 + io_range(0, 3)] = (unsigned char)io_rand(); break;
      }
    }
    io_write(path, buf, len);
    gmmc_data d;
    char *err = NULL;
    gmmc_status s = data_read_npy(path, 0, -1, &d, &err);
    if (s == GMMC_OK) {
      CHECK(!err && d.rows > 0 && d.cols > 0);
      size_t item = d.dtype == GMMC_FLOAT32 ? 4 : 8;
      CHECK(d.int_refusal || (size_t)(d.rows * d.cols) * item <= len); /* integers: widened, not mapped */
      const unsigned char *v = d.values;
      for (size_t i = 0; i < (size_t)(d.rows * d.cols) * item; i++) sink = v[i]; /* every byte must be readable */
      data_release(&d);
    } else {
      CHECK(err && strncmp(err, path, strlen(path)) == 0);
      free(err);
    }
  }
  free(buf);
  free(orig);
}

int main(void) {
  io_init("io_npy");
  test_round_trips();
  test_slices();
  test_header_refusals();
  test_integers();
  test_file_refusals();
  test_writers();
  test_corruptions();
  return io_done();
}
