/* The host target: the program's module, optimized for the native CPU, is
 * compiled to a native object file, which ORC LLJIT links into this process.
 * The object can come from the kernel cache instead (runtime/device/backend_host.c). */
#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>
#include <stdlib.h>
#include <string.h>

#include "llvm_fatal.h"
#include "target.h"

struct HostJit {
  LLVMOrcLLJITRef jit;
  HostKernelFn *fns;
  int nfns;
};

static char *take_error(LLVMErrorRef e, const char *what) {
  char *m = LLVMGetErrorMessage(e);
  char *r = xasprintf("%s: %s", what, m ? m : "(no message)");
  LLVMDisposeErrorMessage(m);
  return r;
}

/* The program's kernels as a native object file: LLVM IR, O3 for the CPU. */
static LLVMMemoryBufferRef compile_object(const Program *p, const char *cpu, char **err) {
  TargetOptions topt = {.kind = TARGET_HOST, .arch = cpu, .jit = 1};
  LLVMTargetMachineRef tm = make_target_machine(&topt, err);
  if (!tm) return NULL;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = codegen_module(p, ctx, tm, TARGET_HOST, NULL);
  LLVMMemoryBufferRef obj = NULL;
  char *msg = NULL;
  LlvmGuard g;
  if (!m) {
    /* out of memory: *err stays NULL */
  } else if (LLVM_GUARD(&g)) {
    *err = xasprintf("LLVM failed: %s", g.reason);
    msg = NULL; /* whatever LLVM held is lost (llvm_fatal.h) */
    obj = NULL;
  } else {
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
      *err = xasprintf("internal error: invalid LLVM IR: %s", msg);
    } else if (!optimize_module(m, tm, err)) {
      LLVMDisposeMessage(msg);
      msg = NULL;
      if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, &msg, &obj))
        *err = xasprintf("host code generation failed: %s", msg ? msg : "(no message)");
    }
    llvm_guard_end(&g);
  }
  if (msg) LLVMDisposeMessage(msg);
  if (m) LLVMDisposeModule(m);
  LLVMContextDispose(ctx);
  LLVMDisposeTargetMachine(tm);
  return obj;
}

HostJit *host_jit_create(const Program *p, const char *cpu, const void *object, size_t object_size, void **made,
                         size_t *made_size, char **err) {
  *err = NULL;
  LLVMMemoryBufferRef obj;
  if (object) {
    obj = LLVMCreateMemoryBufferWithMemoryRangeCopy(object, object_size, "gmmc-kernels");
  } else {
    if (!(obj = compile_object(p, cpu, err))) return NULL;
    if (made) {
      *made_size = LLVMGetBufferSize(obj);
      /* the cache's copy: without it the kernels still run, uncached */
      if ((*made = xmalloc(*made_size + 1))) memcpy(*made, LLVMGetBufferStart(obj), *made_size);
    }
  }
  /* the JIT links the object into this process; its target machine is the
   * one the object was made for */
  TargetOptions topt = {.kind = TARGET_HOST, .arch = cpu, .jit = 1};
  HostJit *j = xcalloc(1, sizeof(HostJit));
  if (!j) goto fail;
  LLVMTargetMachineRef jtm = make_target_machine(&topt, err);
  if (!jtm) goto fail;
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jtm));
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, builder);
  if (e) {
    *err = take_error(e, "cannot create the host JIT");
    goto fail;
  }
  LLVMOrcJITDylibRef dylib = LLVMOrcLLJITGetMainJITDylib(j->jit);
  LLVMOrcDefinitionGeneratorRef gen;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
  if (e) {
    *err = take_error(e, "cannot create the host JIT symbol resolver");
    goto fail;
  }
  LLVMOrcJITDylibAddGenerator(dylib, gen);
  e = LLVMOrcLLJITAddObjectFile(j->jit, dylib, obj); /* takes the buffer */
  obj = NULL;
  if (e) {
    *err = take_error(e, "cannot add the kernels to the host JIT");
    goto fail;
  }
  j->nfns = p->nkernels;
  j->fns = xcalloc((size_t)p->nkernels + 1, sizeof(HostKernelFn));
  if (!j->fns) goto fail;
  for (int i = 0; i < p->nkernels; i++) {
    LLVMOrcExecutorAddress addr = 0;
    e = LLVMOrcLLJITLookup(j->jit, &addr, p->kernels[i]->name);
    if (e) {
      *err = take_error(e, "host JIT linking failed");
      goto fail;
    }
    j->fns[i] = (HostKernelFn)(uintptr_t)addr;
  }
  return j;

fail:
  if (obj) LLVMDisposeMemoryBuffer(obj);
  if (made && !object) {
    free(*made);
    *made = NULL;
  }
  host_jit_free(j);
  return NULL;
}

HostKernelFn host_jit_kernel(const HostJit *j, int kernel) { return j->fns[kernel]; }

void host_jit_free(HostJit *j) {
  if (!j) return;
  if (j->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
    if (e) LLVMConsumeError(e);
  }
  free(j->fns);
  free(j);
}
