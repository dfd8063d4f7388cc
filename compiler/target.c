/* Target machines and text emission (`gmmc compile --emit ir|ptx|asm`). */
#include "target.h"

#include "host_cpu.h"
#include "llvm_fatal.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void llvm_init(void) {
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTarget();
  LLVMInitializeNVPTXTargetMC();
  LLVMInitializeNVPTXAsmPrinter();
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  llvm_fatal_install();
}

void llvm_init_once(void) { pthread_once(&llvm_once, llvm_init); }

int default_ptx_version(const char *arch) {
  int sm = arch && strncmp(arch, "sm_", 3) == 0 ? atoi(arch + 3) : 90;
  /* the lowest PTX ISA that knows the architecture: drivers accept it widely */
  if (sm >= 100) return 86;
  if (sm >= 90) return 78;
  if (sm >= 89) return 78;
  if (sm >= 80) return 70;
  if (sm >= 75) return 63;
  return 60;
}

LLVMTargetMachineRef make_target_machine(const TargetOptions *t, char **err) {
  llvm_init_once();
  *err = NULL;
  char *triple = NULL, *cpu = NULL, *features = NULL, *msg = NULL;
  if (t->kind == TARGET_NVPTX) {
    const char *arch = t->arch ? t->arch : "sm_90";
    if (strncmp(arch, "sm_", 3) != 0 || atoi(arch + 3) < 50) {
      *err = xasprintf("unsupported GPU architecture '%s' (expected sm_XY, XY >= 50)", arch);
      return NULL;
    }
    triple = xstrdup("nvptx64-nvidia-cuda");
    cpu = xstrdup(arch);
    int v = t->ptx_version ? t->ptx_version : default_ptx_version(arch);
    features = xasprintf("+ptx%d", v);
  } else {
    HostCpu hc;
    if (host_cpu_resolve(t->arch, t->jit, &hc, err)) return NULL;
    cpu = hc.name;
    features = hc.features;
    char *tr = LLVMGetDefaultTargetTriple();
    triple = xstrdup(tr);
    LLVMDisposeMessage(tr);
  }
  LLVMTargetMachineRef tm = NULL;
  LLVMTargetRef target;
  if (!triple || !cpu || !features) {
    /* out of memory: *err stays NULL */
  } else if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
    *err = xasprintf("LLVM has no target for %s: %s", triple, msg ? msg : "");
    LLVMDisposeMessage(msg);
  } else {
    tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelDefault, LLVMRelocPIC,
                                 LLVMCodeModelJITDefault);
    if (!tm) *err = xstrdup("cannot create the LLVM target machine");
  }
  free(triple);
  free(cpu);
  free(features);
  return tm;
}

char *target_emit(const Program *p, const TargetOptions *t, EmitKind what, char **err) {
  return target_emit_kernels(p, t, what, NULL, err);
}

char *emit_module(LLVMModuleRef m, LLVMTargetMachineRef tm, EmitKind what, int optimize, char **err) {
  *err = NULL;
  char *volatile out = NULL; /* read after a fatal error's longjmp */
  char *msg = NULL;
  LlvmGuard g;
  if (LLVM_GUARD(&g)) {
    *err = xasprintf("LLVM failed: %s", g.reason);
    free(out);
    return NULL;
  }
  if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
    *err = xasprintf("internal error: invalid LLVM IR: %s", msg);
    goto done;
  }
  if (optimize && optimize_module(m, tm, err)) goto done;
  if (what == EMIT_IR) {
    char *ir = LLVMPrintModuleToString(m);
    out = xstrdup(ir);
    LLVMDisposeMessage(ir);
  } else {
    LLVMMemoryBufferRef buf;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMAssemblyFile, &msg, &buf)) {
      *err = xasprintf("LLVM code generation failed: %s", msg ? msg : "(no message)");
      goto done;
    }
    size_t n = LLVMGetBufferSize(buf);
    if ((out = xmalloc(n + 1))) {
      memcpy(out, LLVMGetBufferStart(buf), n);
      out[n] = 0;
    }
    LLVMDisposeMemoryBuffer(buf);
  }
done:
  llvm_guard_end(&g);
  if (msg) LLVMDisposeMessage(msg);
  return out;
}

char *target_emit_kernels(const Program *p, const TargetOptions *t, EmitKind what, const unsigned char *only,
                          char **err) {
  LLVMTargetMachineRef tm = make_target_machine(t, err);
  if (!tm) return NULL;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = codegen_module(p, ctx, tm, t->kind, only);
  char *out = m ? emit_module(m, tm, what, !t->no_opt, err) : NULL;
  if (m) LLVMDisposeModule(m);
  LLVMContextDispose(ctx);
  LLVMDisposeTargetMachine(tm);
  return out;
}
