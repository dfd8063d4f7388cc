/* LLVM's fatal errors as errors. LLVM reports what it cannot go on from
 * (instruction selection that fails, its own out of memory) through a
 * handler that must not return; gmmc's longjmps back to the innermost
 * guarded LLVM call of the thread, which then fails with the reason. What
 * LLVM held at that point is lost (it was built without exceptions, so
 * nothing unwinds): a process should not go on compiling for long after
 * many of these. Outside a guard the handler returns and LLVM exits, as it
 * always did. */
#ifndef GMMC_LLVM_FATAL_H
#define GMMC_LLVM_FATAL_H

#include <setjmp.h>

typedef struct LlvmGuard {
  jmp_buf escape;
  struct LlvmGuard *outer;
  char reason[256]; /* LLVM's message, once it has escaped */
} LlvmGuard;

/* Installs the handler (once per process; llvm_init_once calls it). */
void llvm_fatal_install(void);

/* if (LLVM_GUARD(&g)) { the fatal error: g.reason; llvm_guard_end(&g) already done } */
#define LLVM_GUARD(g) (llvm_guard_begin(g), setjmp((g)->escape))
void llvm_guard_begin(LlvmGuard *g);
/* Ends the guard on the normal path. */
void llvm_guard_end(LlvmGuard *g);

#endif
