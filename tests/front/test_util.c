/* The arena behind every AST and loop IR: arena_printf formats %s, %d and
 * %lld itself (the lowering makes thousands of names) and everything else
 * through vsnprintf; both must give exactly what snprintf gives, on fresh
 * random values and on the extremes. Arena memory comes back zeroed, from
 * small allocations to ones larger than a block. path_dir gives the
 * directory part of a path as dirname(1) does for the forms gmmc writes. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/util.h"
#include "io/io_test.h"

static int failures;

static void same(const char *got, const char *want, const char *what) {
  if (strcmp(got, want) == 0) return;
  printf("  FAIL: %s: got \"%s\", expected \"%s\"\n", what, got, want);
  failures++;
}

int main(void) {
  io_init("front_util");
  printf("front_util: seed %llu (GMMC_TEST_SEED=N replays a run)\n", (unsigned long long)io_seed());
  Arena a = {0};
  char want[256];
  static const int ints[] = {0, 1, -1, 9, 10, -10, INT_MAX, INT_MIN};
  static const long long longs[] = {0, -1, LLONG_MAX, LLONG_MIN, 1000000000000LL};
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
    snprintf(want, sizeof want, "y%d_%d%%", ints[i], -ints[i] / 3);
    same(arena_printf(&a, "y%d_%d%%", ints[i], -ints[i] / 3), want, "%d extremes");
  }
  for (size_t i = 0; i < sizeof longs / sizeof *longs; i++) {
    snprintf(want, sizeof want, "[%lld]", longs[i]);
    same(arena_printf(&a, "[%lld]", longs[i]), want, "%lld extremes");
  }
  same(arena_printf(&a, "%s|%s|", "", "x"), "|x|", "empty strings");
  for (int r = 0; r < 20000; r++) {
    int d = (int)io_rand();
    long long l = (long long)io_rand();
    char name[12];
    int len = (int)(io_rand() % 11);
    for (int c = 0; c < len; c++) name[c] = (char)('a' + io_rand() % 26);
    name[len] = 0;
    snprintf(want, sizeof want, "%s_%s_tiled%dx%d_%lld", name, "L", d, d % 97, l);
    same(arena_printf(&a, "%s_%s_tiled%dx%d_%lld", name, "L", d, d % 97, l), want, "names");
    /* conversions it leaves to vsnprintf: width, precision, other types */
    double x = (double)(int64_t)io_rand() / 1e9;
    snprintf(want, sizeof want, "%5d|%-3s|%.3g|%x|%zu", d % 1000, name, x, (unsigned)d, (size_t)len);
    same(arena_printf(&a, "%5d|%-3s|%.3g|%x|%zu", d % 1000, name, x, (unsigned)d, (size_t)len), want, "fallback");
  }
  /* zeroed memory, across block boundaries and beyond a block's size */
  for (int r = 0; r < 2000; r++) {
    size_t n = r % 100 == 0 ? 70000 + io_rand() % 70000 : 1 + io_rand() % 300;
    unsigned char *p = arena_alloc(&a, n);
    for (size_t i = 0; i < n; i++)
      if (p[i]) {
        printf("  FAIL: arena_alloc(%zu): byte %zu is %d\n", n, i, p[i]);
        failures++;
        break;
      }
    memset(p, 0xa5, n); /* the next allocation must not see this */
  }
  arena_free(&a);
  static const char *const paths[][2] = {
      {"a/b", "a"}, {"/b", "/"}, {"b", "."}, {"/x/y/model.yaml", "/x/y"}, {"./m.yaml", "."}};
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
    char *dir = path_dir(paths[i][0]);
    same(dir, paths[i][1], paths[i][0]);
    free(dir);
  }
  if (failures) {
    printf("front_util: %d failures\n", failures);
    return 1;
  }
  return io_done();
}
