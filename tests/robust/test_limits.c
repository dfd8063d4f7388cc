/* The compiler's limits and the memory a specialization needs per event.
 *
 * Limits (compiler/lower.c): every fixed size at most 2^20; every tensor at
 * most 2^28 values per event (event tensors) or in all; at most 64 index
 * names; a spec's sizes at most 64 (the CLI and ctx_compile). Each limit is
 * refused with a message, not a crash.
 *
 * Memory: the device buffers of a Program are per-event buffers (leading
 * axis n_local: the data and the E-step intermediates) and fixed buffers
 * (parameters, derived values, statistics, per-chunk partial sums). This
 * prints both, per event and fixed, for the shipped specs at D = 32,
 * M = 128, float32, GPU and host lowering, and checks the full-covariance
 * numbers against the count from the spec (docs/robustness.md quotes them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/loopir.h"
#include "dsl/shipped.h"
#include "io/io_test.h"

static size_t elem_size(LType t) { return t == LT_F64 || t == LT_I64 ? 8 : t == LT_BOOL ? 1 : 4; }

static Program *lower(const char *spec, const char *sizes, LType real, int host, char **err) {
  const ShippedSpec *sh = shipped_spec(spec);
  Spec *s = spec_load(sh->file, sh->text, sh->len, err);
  if (!s) return NULL;
  int64_t values[64] = {0};
  for (const char *p = sizes; *p;) {
    const char *eq = strchr(p, '=');
    for (int i = 0; i < s->sizes.len; i++)
      if (strlen(spec_size(s, i)->name) == (size_t)(eq - p) && !strncmp(spec_size(s, i)->name, p, (size_t)(eq - p)))
        values[i] = strtoll(eq + 1, NULL, 10);
    p = strchr(eq, ',');
    p = p ? p + 1 : eq + strlen(eq);
  }
  LowerOptions o = {.real = real, .host = host, .variants = !host};
  return lower_program(s, values, &o, err);
}

typedef struct {
  int64_t data, event, fixed, partial;
} Bytes;

static Bytes count(const Program *p, int verbose) {
  Bytes b = {0, 0, 0, 0};
  for (int i = 0; i < p->nbufs; i++) {
    const Buffer *buf = p->bufs[i];
    int64_t bytes = buffer_elems(buf, 1) * (int64_t)elem_size(buf->elem);
    /* the weights of a spec compiled without them: never allocated or bound (stream_event_bytes) */
    if (buf->tensor && buf->tensor->optional && p->spec->weights_absent) continue;
    if (buf->kind == BK_DATA)
      b.data += bytes;
    else if (buf->event)
      b.event += bytes;
    else
      b.fixed += bytes;
    if (buf->kind == BK_PARTIAL) b.partial += bytes;
    if (verbose && buf->event) printf("    per event: %-28s %8lld bytes\n", buf->name, (long long)bytes);
  }
  return b;
}

static void test_memory(void) {
  printf("device memory, D = 32, M = 128, float32\n");
  printf("  %-14s %-5s %12s %18s %14s %22s\n", "spec", "lower", "data B/event", "intermediates B/ev", "fixed bytes",
         "of which chunk partials");
  static const char *const specs[] = {"gmm_full", "gmm_diag", "gmm_spherical", "gmm_tied", "kmeans"};
  for (int s = 0; s < 5; s++)
    for (int host = 0; host < 2; host++) {
      char *err = NULL;
      Program *p = lower(specs[s], "M=128,D=32", LT_F32, host, &err);
      if (!p) io_fail(__FILE__, __LINE__, "%s: %s", specs[s], err);
      Bytes b = count(p, 0);
      printf("  %-14s %-5s %12lld %18lld %14lld %22lld\n", specs[s], host ? "host" : "gpu", (long long)b.data,
             (long long)b.event, (long long)b.fixed, (long long)b.partial);
      if (s == 0 && host == 0) {
        /* X[n,d]: 32 floats; the E-step keeps L, R [n,m] (float32), lse and
         * label [n], and the initialisation's labels init_labels [n] (int32):
         * 2 * 128 * 4 + 3 * 4 = 1036 bytes besides the data's 128 */
        CHECK(b.data == 32 * 4);
        if (b.event != 2 * 128 * 4 + 3 * 4) {
          count(p, 1);
          io_fail(__FILE__, __LINE__, "gmm_full: %lld bytes per event, expected 1036", (long long)b.event);
        }
      }
      program_free(p);
    }
}

static void test_limits(void) {
  printf("limits\n");
  static const struct {
    const char *spec, *sizes, *msg;
  } refused[] = {
      {"full", "M=1048577,D=2", "size M = 1048577 is too large (at most 1048576)"},
      {"full", "M=2,D=1048577", "size D = 1048577 is too large (at most 1048576)"},
      {"full", "M=1024,D=1024", "'covariances' would hold 1073741824 values per event or in all; at most 268435456"},
      {"full", "M=1,D=16385", "would hold 268468225 values"},
      {"diag", "M=1048576,D=1024", "values per event or in all; at most 268435456"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    char *err = NULL;
    Program *p = lower(refused[i].spec, refused[i].sizes, LT_F32, 1, &err);
    if (p || !err || !strstr(err, refused[i].msg))
      io_fail(__FILE__, __LINE__, "%s %s: expected '%s', got '%s'", refused[i].spec, refused[i].sizes, refused[i].msg,
              p ? "a program" : err);
    printf("  ok: %s %s: %s\n", refused[i].spec, refused[i].sizes, err);
    free(err);
  }
  /* the largest accepted: D = 16384 full covariance with M = 1 (2^28 values) */
  char *err = NULL;
  Program *p = lower("full", "M=1,D=16384", LT_F32, 1, &err);
  if (!p) io_fail(__FILE__, __LINE__, "full M=1,D=16384: %s", err);
  program_free(p);
  p = lower("diag", "M=1048576,D=256", LT_F32, 1, &err);
  if (!p) io_fail(__FILE__, __LINE__, "diag M=2^20,D=256: %s", err);
  Bytes b = count(p, 0);
  printf("  ok: full M=1,D=16384 and diag M=1048576,D=256 lower (diag: %lld bytes per event)\n", (long long)b.event);
  program_free(p);
}

int main(void) {
  io_init("robust_limits");
  test_memory();
  test_limits();
  return io_done();
}
