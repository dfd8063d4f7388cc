/* LLVM's fatal-error handler (llvm_fatal.h). */
#include "llvm_fatal.h"

#include <llvm-c/ErrorHandling.h>
#include <stdio.h>

/* the innermost guard of this thread: the handler runs on the failing thread */
static _Thread_local LlvmGuard *innermost;

static void on_fatal(const char *reason) {
  LlvmGuard *g = innermost;
  if (!g) return; /* LLVM exits */
  snprintf(g->reason, sizeof g->reason, "%s", reason ? reason : "(no reason given)");
  innermost = g->outer;
  longjmp(g->escape, 1);
}

void llvm_fatal_install(void) { LLVMInstallFatalErrorHandler(on_fatal); }

void llvm_guard_begin(LlvmGuard *g) {
  g->reason[0] = 0;
  g->outer = innermost;
  innermost = g;
}

void llvm_guard_end(LlvmGuard *g) { innermost = g->outer; }
