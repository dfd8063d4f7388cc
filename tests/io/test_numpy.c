/* NumPy interoperability, both ways: numpy.load reads what data_write_npy_*
 * writes, and gmmc reads what numpy.save writes (float32, float64, 1-D,
 * format versions 2.0 and 3.0) and refuses Fortran order, big-endian and
 * integer arrays. Raw copies (.bin) of the same values are the reference,
 * compared bit for bit. Without Python and NumPy: SKIPPED (exit code 77). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "io_test.h"
#include "runtime/io/data.h"

#define SKIP 77

static const char *const SCRIPT =
    "import sys\n"
    "import numpy as np\n"
    "d, seed, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])\n"
    "def same(a, b):\n"
    "    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()\n"
    "# what gmmc wrote\n"
    "a = np.load(d + '/gmmc_f64.npy')\n"
    "assert same(a, np.fromfile(d + '/gmmc_f64.bin', dtype='<f8').reshape(rows, cols)), 'f64 2-D'\n"
    "assert a.flags.c_contiguous\n"
    "a = np.load(d + '/gmmc_f64_1d.npy', mmap_mode='r')\n"
    "assert same(np.asarray(a), np.fromfile(d + '/gmmc_f64.bin', dtype='<f8')[:rows]), 'f64 1-D'\n"
    "a = np.load(d + '/gmmc_i32.npy')\n"
    "assert same(a, np.fromfile(d + '/gmmc_i32.bin', dtype='<i4')), 'i32'\n"
    "a = np.load(d + '/gmmc_empty.npy')\n"
    "assert a.shape == (0,) and a.dtype == np.dtype('<i4'), 'empty'\n"
    "# what numpy writes, for gmmc to read\n"
    "rng = np.random.default_rng(seed)\n"
    "x = rng.standard_normal((rows, cols))\n"
    "np.save(d + '/np_f64.npy', x); x.tofile(d + '/np_f64.bin')\n"
    "y = x.astype(np.float32)\n"
    "np.save(d + '/np_f32.npy', y); y.tofile(d + '/np_f32.bin')\n"
    "np.save(d + '/np_1d.npy', y[:, 0].copy()); y[:, 0].copy().tofile(d + '/np_1d.bin')\n"
    "for v in (2, 3):\n"
    "    with open(d + '/np_v%d.npy' % v, 'wb') as f:\n"
    "        np.lib.format.write_array(f, x, version=(v, 0))\n"
    "np.save(d + '/np_fortran.npy', np.asfortranarray(np.zeros((3, 4))))\n"
    "np.save(d + '/np_big.npy', x.astype('>f8'))\n"
    "np.save(d + '/np_int.npy', np.arange(6, dtype=np.int32).reshape(3, 2))\n"
    "np.save(d + '/np_c64.npy', np.zeros((3, 2), dtype=np.complex64))\n"
    "for t in ('i1', 'i2', 'i8', 'u1', 'u2', 'u4', 'u8', 'b1'):\n"
    "    np.save(d + '/np_' + t + '.npy', (np.arange(6).reshape(3, 2) % (2 if t == 'b1' else 7)).astype(t))\n";

static int run_python(const char *python, const char *args) {
  char *cmd = io_fmt("'%s' %s", python, args);
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void same_as_raw(const char *npy, const char *bin, int64_t rows, int64_t cols, gmmc_dtype dtype) {
  gmmc_data d;
  EXPECT_OK(data_read_npy(io_path(npy), 0, -1, &d, &err_));
  if (d.rows != rows || d.cols != cols || d.dtype != dtype)
    io_fail(__FILE__, __LINE__, "%s: %lld x %lld dtype %d", npy, (long long)d.rows, (long long)d.cols, d.dtype);
  size_t n;
  char *raw = io_read(io_path(bin), &n);
  CHECK(n == (size_t)(rows * cols) * (dtype == GMMC_FLOAT32 ? 4 : 8));
  if (memcmp(d.values, raw, n) != 0) io_fail(__FILE__, __LINE__, "%s: values differ from %s", npy, bin);
  free(raw);
  data_release(&d);
}

int main(int argc, char **argv) {
  const char *python = argc > 1 ? argv[1] : "";
  if (!*python || strstr(python, "NOTFOUND")) {
    printf("SKIPPED: no python3 (GMMC_TEST_PYTHON is not set)\n");
    return SKIP;
  }
  if (run_python(python, "-c 'import numpy' 2>/dev/null") != 0) {
    printf("SKIPPED: %s cannot import numpy\n", python);
    return SKIP;
  }
  io_init("io_numpy");
  int64_t rows = io_range(1, 2000), cols = io_range(1, 16);
  double *x = malloc(sizeof(double) * (size_t)(rows * cols));
  for (int64_t i = 0; i < rows * cols; i++) x[i] = io_normal() * 1e3;
  int32_t *labels = malloc(sizeof(int32_t) * (size_t)rows);
  for (int64_t i = 0; i < rows; i++) labels[i] = (int32_t)io_rand();
  EXPECT_OK(data_write_npy_f64(io_path("gmmc_f64.npy"), x, rows, cols, &err_));
  EXPECT_OK(data_write_npy_f64(io_path("gmmc_f64_1d.npy"), x, rows, 0, &err_));
  EXPECT_OK(data_write_npy_i32(io_path("gmmc_i32.npy"), labels, rows, &err_));
  EXPECT_OK(data_write_npy_i32(io_path("gmmc_empty.npy"), NULL, 0, &err_));
  io_write(io_path("gmmc_f64.bin"), x, sizeof(double) * (size_t)(rows * cols));
  io_write(io_path("gmmc_i32.bin"), labels, sizeof(int32_t) * (size_t)rows);
  const char *script = io_path("check.py");
  io_write(script, SCRIPT, strlen(SCRIPT));
  int rc = run_python(python, io_fmt("'%s' '%s' %llu %lld %lld", script, io_dir(), (unsigned long long)(io_seed() >> 1),
                                     (long long)rows, (long long)cols));
  if (rc != 0) io_fail(__FILE__, __LINE__, "the numpy checks failed (exit code %d)", rc);

  same_as_raw("np_f64.npy", "np_f64.bin", rows, cols, GMMC_FLOAT64);
  same_as_raw("np_f32.npy", "np_f32.bin", rows, cols, GMMC_FLOAT32);
  same_as_raw("np_1d.npy", "np_1d.bin", rows, 1, GMMC_FLOAT32);
  same_as_raw("np_v2.npy", "np_f64.bin", rows, cols, GMMC_FLOAT64);
  same_as_raw("np_v3.npy", "np_f64.bin", rows, cols, GMMC_FLOAT64);
  int64_t r, c;
  EXPECT_OK(data_npy_shape(io_path("np_f32.npy"), &r, &c, &err_));
  CHECK(r == rows && c == cols);
  int64_t b = io_range(0, rows - 1), e = io_range(b + 1, rows);
  gmmc_data d;
  EXPECT_OK(data_read_npy(io_path("np_f64.npy"), b, e, &d, &err_));
  CHECK(d.rows == e - b && d.cols == cols);
  size_t n;
  char *raw = io_read(io_path("np_f64.bin"), &n);
  CHECK(memcmp(d.values, raw + b * cols * 8, (size_t)((e - b) * cols) * 8) == 0);
  free(raw);
  data_release(&d);

  /* numpy.save's headers put the descr value at byte 20 and fortran_order's at 44 */
  const char *p = io_path("np_fortran.npy");
  EXPECT_ERR(data_read_npy(p, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 44: Fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(a) "
             "instead",
             p);
  p = io_path("np_big.npy");
  EXPECT_ERR(data_read_npy(p, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 20: dtype '>f8' has the wrong byte order for this host (convert with a.astype('<f8'))", p);
  /* integers and booleans: widened to float64, refused by specs of real data with this message */
  static const char *const ints[] = {"int", "i1", "i2", "i8", "u1", "u2", "u4", "u8", "b1"};
  for (int t = 0; t < 9; t++) {
    char name[32];
    snprintf(name, sizeof name, "np_%s.npy", ints[t]);
    p = io_path(name);
    char *err = NULL;
    gmmc_status s = data_read_npy(p, 0, -1, &d, &err);
    CHECK(s == GMMC_OK && d.rows == 3 && d.cols == 2 && d.dtype == GMMC_FLOAT64 && d.int_refusal);
    if (s) {
      free(err);
      continue;
    }
    for (int i = 0; i < 6; i++) CHECK(((const double *)d.values)[i] == (t == 8 ? i % 2 : t == 0 ? i : i % 7));
    CHECK(strstr(d.int_refusal, "byte 20: dtype '") && strstr(d.int_refusal, "is not supported (expected '<f4'"));
    data_release(&d);
  }
  p = io_path("np_c64.npy");
  EXPECT_ERR(data_read_npy(p, 0, -1, &d, &err_), GMMC_ERR_DATA,
             "%s: byte 20: dtype '<c8' is not supported (expected '<f4' float32 or '<f8' float64)", p);
  free(labels);
  free(x);
  return io_done();
}
