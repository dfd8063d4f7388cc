/* CSV reading: random tables in every tolerated layout read back bit for bit,
 * header detection, every refusal with its exact row, column and wording, the
 * application's locale ignored, a large file, and random corruptions. */
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io_test.h"
#include "runtime/io/data.h"

typedef struct {
  char *s;
  size_t len, cap;
} Text;

static void put(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Text *t, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (t->s && (size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    t->cap = (t->cap + (size_t)n + 1) * 2;
    t->s = realloc(t->s, t->cap);
  }
}

static const char *blank(void) { return io_range(0, 2) == 0 ? (io_range(0, 1) ? " " : "\t ") : ""; }

/* Random values printed with %.17g (exact) in random layouts. */
static void test_round_trips(void) {
  for (int iter = 0; iter < 40; iter++) {
    int64_t rows = io_range(1, 400), cols = io_range(1, 12);
    double *x = malloc(sizeof(double) * (size_t)(rows * cols));
    int header = (int)io_range(0, 1), crlf = (int)io_range(0, 1), bom = io_range(0, 4) == 0;
    const char *nl = crlf ? "\r\n" : "\n";
    Text t = {0};
    if (bom) put(&t, "\xEF\xBB\xBF");
    if (header) {
      for (int64_t c = 0; c < cols; c++)
        put(&t, io_range(0, 3) ? "%s%sx%lld%s" : "%s%s\"feature, %lld\"%s", c ? "," : "", blank(), (long long)c,
            blank());
      put(&t, "%s", nl);
    }
    for (int64_t r = 0; r < rows; r++) {
      for (int64_t c = 0; c < cols; c++) {
        double v = io_normal() * (io_range(0, 3) == 0 ? 1e-300 : io_range(0, 3) == 0 ? 1e300 : 1);
        if (io_range(0, 9) == 0) v = (double)io_range(-1000, 1000); /* integers */
        if (io_range(0, 20) == 0) v = -0.0;
        x[r * cols + c] = v;
        put(&t, "%s%s%.17g%s", c ? "," : "", blank(), v, blank());
      }
      if (r + 1 < rows || io_range(0, 1)) put(&t, "%s", nl);
    }
    for (int k = (int)io_range(0, 2); k > 0; k--) put(&t, "%s%s", blank(), nl); /* blank lines at the end */
    const char *path = io_path("rt.csv");
    io_write(path, t.s, t.len);
    gmmc_data d;
    EXPECT_OK(data_read_csv(path, &d, &err_));
    CHECK(d.rows == rows && d.cols == cols && d.dtype == GMMC_FLOAT64 && d.owned && !d.map);
    if (memcmp(d.values, x, sizeof(double) * (size_t)(rows * cols)) != 0)
      io_fail(__FILE__, __LINE__, "values differ (header %d, crlf %d)", header, crlf);
    data_release(&d);
    free(t.s);
    free(x);
  }
}

static void read_text_at(int line, const char *path, const char *text, gmmc_data *d) {
  io_write(path, text, strlen(text));
  char *err = NULL;
  gmmc_status s = data_read_csv(path, d, &err);
  io_expect_ok(__FILE__, line, s, err);
}
#define read_text(path, text, d) read_text_at(__LINE__, path, text, d)

static void test_layouts(void) {
  const char *path = io_path("layout.csv");
  gmmc_data d;
  read_text(path, "x,y\n1,2\n3,4\n", &d); /* header */
  CHECK(d.rows == 2 && d.cols == 2 && ((const double *)d.values)[3] == 4);
  data_release(&d);
  read_text(path, "1,2\n3,4", &d); /* no header, no final newline */
  CHECK(d.rows == 2 && d.cols == 2 && ((const double *)d.values)[0] == 1);
  data_release(&d);
  read_text(path, ",a\n1,2\n", &d); /* pandas' unnamed index column */
  CHECK(d.rows == 1 && d.cols == 2);
  data_release(&d);
  read_text(path, "\"a,b\",\"c\"\"d\"\r\n 1.5 ,\t-2e3\r\n\r\n  \r\n", &d); /* quoted names with a comma and a quote */
  CHECK(d.rows == 1 && d.cols == 2 && ((const double *)d.values)[1] == -2e3);
  data_release(&d);
  read_text(path, "\"1\",2\n3,4\n", &d); /* a quoted first field is a name */
  CHECK(d.rows == 1 && d.cols == 2);
  data_release(&d);
  read_text(path, "a,b\n\"5\",\" 6 \"\n", &d); /* quoted numbers in data rows are numbers */
  CHECK(d.rows == 1 && ((const double *)d.values)[1] == 6);
  data_release(&d);
  read_text(path, "7\n", &d);
  CHECK(d.rows == 1 && d.cols == 1 && ((const double *)d.values)[0] == 7);
  data_release(&d);
  read_text(path, "+.5,5.,1e-400,4.9e-324\n", &d); /* Python float() spellings; underflow is fine */
  CHECK(((const double *)d.values)[0] == 0.5 && ((const double *)d.values)[1] == 5 &&
        ((const double *)d.values)[2] == 0 && ((const double *)d.values)[3] == 4.9e-324);
  data_release(&d);
}

static void refuse(int line, const char *text, gmmc_status want, const char *msg) {
  const char *path = io_path("bad.csv");
  io_write(path, text, strlen(text));
  gmmc_data d;
  char *err = NULL;
  gmmc_status s = data_read_csv(path, &d, &err);
  io_expect(__FILE__, line, s, err, want, io_fmt("%s: %s", path, msg));
}

static void test_refusals(void) {
  const gmmc_status D = GMMC_ERR_DATA;
  refuse(__LINE__, "", D, "the file is empty");
  refuse(__LINE__, "\n\n  \n", D, "no data rows (only blank lines)");
  refuse(__LINE__, "a,b,c\n", D, "no data rows (only a header)");
  refuse(__LINE__, "a,b,c\r\n\r\n", D, "no data rows (only a header)");
  refuse(__LINE__, "1,2,3\n4,5,6\n7,8,abc\n", D, "row 3, column 3: 'abc' is not a number");
  refuse(__LINE__, "x,y,z\n1,2,3\n4,5,6\n7,8\n", D, "row 4, column 3: missing field (expected 3 columns, as in row 1)");
  refuse(__LINE__, "x,y\n1,2\n4,5,6\n", D, "row 3, column 3: extra field (expected 2 columns, as in row 1)");
  refuse(__LINE__, "1,2\n3,4,\n", D, "row 2, column 3: extra field (expected 2 columns, as in row 1)");
  refuse(__LINE__, "1,,3\n", D, "row 1, column 2: empty field");
  refuse(__LINE__, "x,y,z\n1, ,3\n", D, "row 2, column 2: empty field");
  refuse(__LINE__, "1,2\n3,\n", D, "row 2, column 2: empty field");
  refuse(__LINE__, "1,2\n3,nan\n", D, "row 2, column 2: 'nan' is not a finite number");
  refuse(__LINE__, "1,NaN\n", D, "row 1, column 2: 'NaN' is not a finite number");
  refuse(__LINE__, "-inf,2\n", D, "row 1, column 1: '-inf' is not a finite number");
  refuse(__LINE__, "x\n1\n+Infinity\n", D, "row 3, column 1: '+Infinity' is not a finite number");
  refuse(__LINE__, "1,2\n1e999,2\n", D, "row 2, column 1: '1e999' is out of the range of float64");
  refuse(__LINE__, "1,2\n0x10,2\n", D, "row 2, column 1: '0x10' is not a number");
  refuse(__LINE__, "1,2\n1.2.3,2\n", D, "row 2, column 1: '1.2.3' is not a number");
  refuse(__LINE__, "1,2\n1;2\n", D, "row 2, column 1: '1;2' is not a number");
  refuse(__LINE__, "1,2\n1 2,2\n", D, "row 2, column 1: '1 2' is not a number");
  refuse(__LINE__, "1,2\n1,2\n\n3,4\n", D, "row 3: blank line between rows (only blank lines at the end are ignored)");
  refuse(__LINE__, "a,b\n\"1,2\n", D, "row 2, column 1: unterminated quoted field");
  refuse(__LINE__, "a,b\n\"1\"x,2\n", D, "row 2, column 1: text after the closing quote");
  refuse(__LINE__, "a,b\n\"\",2\n", D, "row 2, column 1: empty field");
  refuse(__LINE__, "1,2\n3,4\r\r\n", D, "row 2, column 2: '4?' is not a number");
  refuse(__LINE__, "1\n2\nthis field is far too long to be quoted whole in a message\n", D,
         "row 3, column 1: 'this field is far too long to be quoted whole...' is not a number");
  gmmc_data d;
  const char *path = io_path("missing.csv");
  EXPECT_ERR(data_read_csv(path, &d, &err_), GMMC_ERR_IO, "%s: cannot open: No such file or directory", path);
  EXPECT_ERR(data_read_csv(io_dir(), &d, &err_), GMMC_ERR_IO, "%s: not a regular file", io_dir());
}

/* A decimal-comma locale in the application changes nothing. */
static void test_locale(void) {
  const char *loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
  if (!loc) loc = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
  if (!loc) {
    printf("io_csv: no decimal-comma locale installed; the locale check is skipped\n");
    return;
  }
  gmmc_data d;
  read_text(io_path("locale.csv"), "1.25,2.5\n", &d);
  CHECK(((const double *)d.values)[0] == 1.25 && ((const double *)d.values)[1] == 2.5);
  data_release(&d);
  setlocale(LC_NUMERIC, "C");
}

/* A big file in one pass: a million values. */
static void test_large(void) {
  int64_t rows = 125000, cols = 8;
  double *x = malloc(sizeof(double) * (size_t)(rows * cols));
  Text t = {0};
  put(&t, "a,b,c,d,e,f,g,h\n");
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      x[r * cols + c] = io_normal();
      put(&t, c + 1 < cols ? "%.17g," : "%.17g\n", x[r * cols + c]);
    }
  const char *path = io_path("large.csv");
  io_write(path, t.s, t.len);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  gmmc_data d;
  EXPECT_OK(data_read_csv(path, &d, &err_));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK(d.rows == rows && d.cols == cols);
  CHECK(memcmp(d.values, x, sizeof(double) * (size_t)(rows * cols)) == 0);
  printf("io_csv: %zu bytes, %lld values read in %.3f s\n", t.len, (long long)(rows * cols),
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  data_release(&d);
  free(t.s);
  free(x);
}

static void test_corruptions(void) {
  const char *orig = "x,\"y\",z\r\n1.5,2,3e-3\r\n-4,5.25,6\r\n7,8,9\r\n";
  size_t n = strlen(orig);
  char buf[128];
  const char *path = io_path("fuzz.csv");
  for (int iter = 0; iter < 3000; iter++) {
    memcpy(buf, orig, n);
    size_t len = n;
    for (int e = (int)io_range(1, 3); e > 0; e--) {
      size_t pos = (size_t)io_range(0, (int64_t)n - 1);
      if (io_range(0, 3) == 0)
        len = (size_t)io_range(0, (int64_t)len);
      else
        buf[pos] = io_range(0, 1) ? (char)io_rand() : ",\"\r\n \t.e-+0"[io_range(0, 11)];
    }
    io_write(path, buf, len);
    gmmc_data d;
    char *err = NULL;
    if (data_read_csv(path, &d, &err) == GMMC_OK) {
      CHECK(!err && d.rows > 0 && d.cols > 0 && d.values);
      int64_t r, c;
      CHECK(!data_find_nonfinite(&d, &r, &c));
      data_release(&d);
    } else {
      CHECK(err && strncmp(err, path, strlen(path)) == 0);
      free(err);
    }
  }
}

int main(void) {
  io_init("io_csv");
  test_round_trips();
  test_layouts();
  test_refusals();
  test_locale();
  test_large();
  test_corruptions();
  return io_done();
}
