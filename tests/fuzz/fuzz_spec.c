/* Fuzz target: the spec front end and the lowering.
 *
 *   spec_load (YAML, statements, checks) -> lower_program for small sizes
 *   (1..4 each, from a hash of the input) -> program_dump; on one input in
 *   eight also target_emit of the NVPTX LLVM IR (verified, unoptimized), and
 *   on one in 64 the optimized PTX.
 *
 * Properties beyond "no crash, no leak, no undefined behaviour":
 *   - spec_load returns a spec or a message, never both or neither, and every
 *     message names the file ("fuzz.yaml:...");
 *   - lowering and emission fail with a message, never with an internal error
 *     (an invalid LLVM module or an unschedulable program is a compiler bug). */
#include <stdlib.h>
#include <string.h>

#include "compiler/loopir.h"
#include "compiler/target.h"
#include "fuzz_common.h"

/* The text of a message after its position ("fuzz.yaml:L:C: error: "), if
 * it has one. Only where the text begins says whether the error is internal:
 * later it may quote the input, which can hold any words. */
static const char *message_text(const char *err) {
  const char *p = err;
  if (strncmp(p, "fuzz.yaml:", 10)) return err;
  p += 10;
  for (int field = 0; field < 2; field++) {
    if (*p < '0' || *p > '9') return err;
    while (*p >= '0' && *p <= '9') p++;
    if (*p++ != ':') return err;
  }
  return strncmp(p, " error: ", 8) ? err : p + 8;
}

static void check_message(const char *what, const char *err) {
  FUZZ_CHECK(err && *err, "%s failed without a message", what);
  FUZZ_CHECK(strncmp(message_text(err), "internal error", 14), "%s: %s", what, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0; /* specs are a few KiB; longer inputs only slow the search */
  char *err = NULL;
  Spec *s = spec_load("fuzz.yaml", (const char *)data, size, &err);
  if (!s) {
    FUZZ_CHECK(err && !strncmp(err, "fuzz.yaml:", 10), "spec_load failed with the message '%s'", err ? err : "(none)");
    free(err);
    return 0;
  }
  FUZZ_CHECK(!err, "spec_load succeeded but set a message: %s", err);
  if (s->sizes.len > 64) { /* what the CLI and ctx_compile refuse before lowering */
    spec_free(s);
    return 0;
  }
  uint64_t h = fuzz_hash(data, size);
  int64_t values[64];
  for (int i = 0; i < s->sizes.len; i++) values[i] = 1 + (int64_t)((h >> (2 * (i % 24))) & 3);
  LowerOptions opt = {.real = (h >> 50) & 1 ? LT_F64 : LT_F32, .host = (int)((h >> 51) & 1), .variants = 1};
  Program *p = lower_program(s, values, &opt, &err); /* takes the spec */
  if (!p) {
    check_message("lower_program", err);
    free(err);
    return 0;
  }
  char *dump = program_dump(p);
  FUZZ_CHECK(dump, "program_dump returned NULL");
  free(dump);
  for (int i = 0; i < p->nbufs; i++)
    FUZZ_CHECK(buffer_elems(p->bufs[i], 1) >= 0, "buffer %s has a negative size", p->bufs[i]->name);
  if (!opt.host && ((h >> 52) & 7) == 0) {
    int full = ((h >> 55) & 7) == 0;
    TargetOptions t = {.kind = TARGET_NVPTX, .arch = "sm_90", .no_opt = !full};
    char *text = target_emit(p, &t, full ? EMIT_ASM : EMIT_IR, &err);
    if (text)
      free(text);
    else {
      check_message("target_emit", err);
      free(err);
    }
  }
  program_free(p);
  return 0;
}
