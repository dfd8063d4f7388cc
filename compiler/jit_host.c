/* The host target: the program's module, optimized for the native CPU, is
 * compiled by ORC LLJIT into this process. */
#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

struct HostJit {
  LLVMOrcLLJITRef jit;
  HostKernelFn *fns;
  int nfns;
};

static char *take_error(LLVMErrorRef e, const char *what) {
  char *m = LLVMGetErrorMessage(e);
  char *r = xasprintf("%s: %s", what, m);
  LLVMDisposeErrorMessage(m);
  return r;
}

HostJit *host_jit_create(const Program *p, char **err) {
  TargetOptions topt = {.kind = TARGET_HOST};
  LLVMTargetMachineRef tm = make_target_machine(&topt, err);
  if (!tm) return NULL;
  HostJit *j = xcalloc(1, sizeof(HostJit));
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  LLVMModuleRef m = codegen_module(p, ctx, tm, TARGET_HOST, NULL);
  char *msg = NULL;
  if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
    *err = xasprintf("internal error: invalid LLVM IR: %s", msg);
    LLVMDisposeMessage(msg);
    goto fail_module;
  }
  if (msg) LLVMDisposeMessage(msg);
  if (optimize_module(m, tm, err)) goto fail_module;
  LLVMDisposeTargetMachine(tm);
  tm = NULL;

  /* the JIT's own target machine: the same native CPU */
  LLVMTargetMachineRef jtm = make_target_machine(&topt, err);
  if (!jtm) goto fail_module;
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jtm));
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, builder);
  if (e) {
    *err = take_error(e, "cannot create the host JIT");
    goto fail_module;
  }
  LLVMOrcJITDylibRef dylib = LLVMOrcLLJITGetMainJITDylib(j->jit);
  LLVMOrcDefinitionGeneratorRef gen;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
  if (e) {
    *err = take_error(e, "cannot create the host JIT symbol resolver");
    goto fail_module;
  }
  LLVMOrcJITDylibAddGenerator(dylib, gen);
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, tsc);
  LLVMOrcDisposeThreadSafeContext(tsc);
  e = LLVMOrcLLJITAddLLVMIRModule(j->jit, dylib, tsm);
  if (e) {
    *err = take_error(e, "cannot add the module to the host JIT");
    LLVMOrcDisposeThreadSafeModule(tsm);
    host_jit_free(j);
    return NULL;
  }
  j->nfns = p->nkernels;
  j->fns = xcalloc((size_t)p->nkernels + 1, sizeof(HostKernelFn));
  for (int i = 0; i < p->nkernels; i++) {
    LLVMOrcExecutorAddress addr = 0;
    e = LLVMOrcLLJITLookup(j->jit, &addr, p->kernels[i]->name);
    if (e) {
      *err = take_error(e, "host JIT compilation failed");
      host_jit_free(j);
      return NULL;
    }
    j->fns[i] = (HostKernelFn)(uintptr_t)addr;
  }
  return j;

fail_module:
  if (tm) LLVMDisposeTargetMachine(tm);
  LLVMDisposeModule(m);
  LLVMOrcDisposeThreadSafeContext(tsc);
  if (j->jit) LLVMOrcDisposeLLJIT(j->jit);
  free(j);
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
