/* LLVM's fatal errors become errors (compiler/llvm_fatal.h): a module that
 * NVPTX's instruction selection cannot handle (a call to an x86 intrinsic)
 * makes LLVM report a fatal error, which used to end the process; now
 * emit_module fails with LLVM's reason, and the compiler still works
 * afterwards (the same target machine emits a correct module). */
#include <llvm-c/Core.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compiler/target.h"

/* What LLVM held when it gave up is lost, by design (llvm_fatal.h): under
 * LeakSanitizer the failing emission's allocations are not leaks to report. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LOST_BEGIN() __lsan_disable()
#define LOST_END() __lsan_enable()
#else
#define LOST_BEGIN() (void)0
#define LOST_END() (void)0
#endif

/* void f(ptr out) { *out = <body>; } with an x86-only intrinsic or a constant */
static LLVMModuleRef module(LLVMContextRef c, LLVMTargetMachineRef tm, int bad) {
  LLVMModuleRef m = LLVMModuleCreateWithNameInContext("fatal", c);
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(m, triple);
  LLVMDisposeMessage(triple);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(c, 0), i32 = LLVMInt32TypeInContext(c);
  LLVMValueRef f = LLVMAddFunction(m, "f", LLVMFunctionType(LLVMVoidTypeInContext(c), &ptr, 1, 0));
  LLVMBuilderRef b = LLVMCreateBuilderInContext(c);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(c, f, "entry"));
  LLVMValueRef v = LLVMConstInt(i32, 7, 0);
  if (bad) {
    const char *name = "llvm.x86.rdtsc"; /* i64 (): selectable on x86 only */
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(m, id, NULL, 0);
    LLVMTypeRef fty = LLVMIntrinsicGetType(c, id, NULL, 0);
    v = LLVMBuildTrunc(b, LLVMBuildCall2(b, fty, fn, NULL, 0, "t"), i32, "v");
  }
  LLVMBuildStore(b, v, LLVMGetParam(f, 0));
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
  return m;
}

static void emit(LLVMTargetMachineRef tm, int bad) {
  if (bad) LOST_BEGIN();
  LLVMContextRef c = LLVMContextCreate();
  LLVMModuleRef m = module(c, tm, bad);
  char *err = NULL, *ptx = emit_module(m, tm, EMIT_ASM, 0, &err);
  if (bad)
    CHECK(!ptx && err && strstr(err, "LLVM failed") && strstr(err, "rdtsc"),
          "a fatal error: expected a failure naming the intrinsic, got %s / %s", ptx ? "PTX" : "no PTX",
          err ? err : "no message");
  else
    CHECK(ptx && strstr(ptx, ".entry") == NULL && strstr(ptx, "st.u32") != NULL, "after the fatal error: %s",
          ptx   ? ptx
          : err ? err
                : "no message");
  free(ptx);
  free(err);
  if (bad) {
    LOST_END(); /* the module LLVM gave up on is lost with its context */
  } else {
    LLVMDisposeModule(m);
    LLVMContextDispose(c);
  }
}

int main(void) {
  char *err = NULL;
  LLVMTargetMachineRef tm = make_target_machine(&(TargetOptions){.kind = TARGET_NVPTX, .arch = "sm_90"}, &err);
  CHECK(tm != NULL, "no NVPTX target machine: %s", err ? err : "?");
  if (!tm) return 1;
  emit(tm, 1);
  emit(tm, 0);
  emit(tm, 1); /* and again: the handler is still in place */
  LLVMDisposeTargetMachine(tm);
  printf("%s\n", failures ? "FAILED" : "ok: an LLVM fatal error is an error");
  return failures != 0;
}
