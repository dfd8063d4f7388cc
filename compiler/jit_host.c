/* The host target: the program's kernels, optimized for the native CPU, are
 * compiled to native object files, which ORC LLJIT links into this process.
 * A cold compile splits the kernels into a few modules of about equal size
 * (Kernel.weight) compiled on as many threads as the process has CPUs, up
 * to HOST_COMPILE_THREADS: every alternative of every unit is compiled
 * before the fit, and one O3 pipeline over all of them is most of a cold
 * start. The objects can come from the kernel cache instead
 * (runtime/device/backend_host.c), as one blob (pack_objects). */
#define _GNU_SOURCE /* sched_getaffinity */
#include <llvm-c/Analysis.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
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

/* The kernels marked in `only` as a native object file: LLVM IR, O3 for the CPU. */
static LLVMMemoryBufferRef compile_object(const Program *p, const char *cpu, const unsigned char *only, char **err) {
  TargetOptions topt = {.kind = TARGET_HOST, .arch = cpu, .jit = 1};
  LLVMTargetMachineRef tm = make_target_machine(&topt, err);
  if (!tm) return NULL;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef m = codegen_module(p, ctx, tm, TARGET_HOST, only);
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

enum { HOST_COMPILE_THREADS = 4 };

/* Threads for a cold compile: the CPUs this process may run on, at most
 * HOST_COMPILE_THREADS and one per kernel. One in fault-injection builds,
 * whose failures are counted in one order. */
static int compile_threads(const Program *p) {
#ifdef GMMC_FAULT_INJECTION
  (void)p;
  return 1;
#else
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  if (n > HOST_COMPILE_THREADS) n = HOST_COMPILE_THREADS;
  if (n > p->nkernels) n = p->nkernels;
  return n < 1 ? 1 : n;
#endif
}

typedef struct {
  const Program *p;
  const char *cpu;
  unsigned char *only;
  LLVMMemoryBufferRef obj;
  char *err;
} Part;

static void *compile_part(void *arg) {
  Part *t = arg;
  t->obj = compile_object(t->p, t->cpu, t->only, &t->err);
  return NULL;
}

/* Kernels into nparts groups of about equal weight, heaviest first into the
 * lightest group: part[g].only marks group g's. 0 when out of memory. */
static int split_kernels(const Program *p, Part *part, int nparts) {
  int64_t *load = xcalloc((size_t)nparts, sizeof *load);
  unsigned char *done = xcalloc((size_t)p->nkernels + 1, 1);
  int ok = load && done;
  for (int g = 0; ok && g < nparts; g++) ok = (part[g].only = xcalloc((size_t)p->nkernels + 1, 1)) != NULL;
  for (int n = 0; ok && n < p->nkernels; n++) {
    int best = -1, g = 0;
    for (int k = 0; k < p->nkernels; k++)
      if (!done[k] && (best < 0 || p->kernels[k]->weight > p->kernels[best]->weight)) best = k;
    for (int h = 1; h < nparts; h++)
      if (load[h] < load[g]) g = h;
    done[best] = 1;
    part[g].only[best] = 1;
    load[g] += p->kernels[best]->weight + 1;
  }
  free(load);
  free(done);
  return ok;
}

/* The cache's blob of several objects: magic, count, sizes, the objects. */
static const char PACK_MAGIC[8] = {'g', 'm', 'm', 'c', 'o', 'b', 'j', 's'};

static void *pack_objects(Part *part, int n, size_t *size) {
  size_t total = sizeof PACK_MAGIC + 8 + 8 * (size_t)n;
  for (int i = 0; i < n; i++) total += LLVMGetBufferSize(part[i].obj);
  unsigned char *b = xmalloc(total + 1);
  if (!b) return NULL;
  memcpy(b, PACK_MAGIC, sizeof PACK_MAGIC);
  uint64_t v = (uint64_t)n, at = sizeof PACK_MAGIC + 8 + 8 * (uint64_t)n;
  memcpy(b + sizeof PACK_MAGIC, &v, 8);
  for (int i = 0; i < n; i++) {
    v = LLVMGetBufferSize(part[i].obj);
    memcpy(b + sizeof PACK_MAGIC + 8 + 8 * (size_t)i, &v, 8);
    memcpy(b + at, LLVMGetBufferStart(part[i].obj), (size_t)v);
    at += v;
  }
  *size = total;
  return b;
}

/* The objects of a blob (a packed one, or one object as older caches hold
 * it) as memory buffers in objs (room for HOST_COMPILE_THREADS); returns
 * how many, -1 for a blob that is neither. */
static int unpack_objects(const unsigned char *b, size_t size, LLVMMemoryBufferRef *objs) {
  if (size < sizeof PACK_MAGIC + 8 || memcmp(b, PACK_MAGIC, sizeof PACK_MAGIC) != 0) {
    objs[0] = LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)b, size, "gmmc-kernels");
    return 1;
  }
  uint64_t n;
  memcpy(&n, b + sizeof PACK_MAGIC, 8);
  if (n < 1 || n > HOST_COMPILE_THREADS || size < sizeof PACK_MAGIC + 8 + 8 * n) return -1;
  size_t at = sizeof PACK_MAGIC + 8 + 8 * (size_t)n;
  for (size_t i = 0; i < n; i++) {
    uint64_t len;
    memcpy(&len, b + sizeof PACK_MAGIC + 8 + 8 * i, 8);
    if (len > size - at) {
      for (size_t j = 0; j < i; j++) LLVMDisposeMemoryBuffer(objs[j]);
      return -1;
    }
    objs[i] = LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)b + at, (size_t)len, "gmmc-kernels");
    at += (size_t)len;
  }
  return (int)n;
}

/* Compiles the program into nobj objects (objs: room for
 * HOST_COMPILE_THREADS), on threads; 0, or -1 with *err set (NULL: out of
 * memory). */
static int compile_objects(const Program *p, const char *cpu, LLVMMemoryBufferRef *objs, int *nobj, char **err) {
  int n = compile_threads(p);
  Part part[HOST_COMPILE_THREADS];
  pthread_t tid[HOST_COMPILE_THREADS];
  int started[HOST_COMPILE_THREADS] = {0};
  memset(part, 0, sizeof part);
  for (int i = 0; i < n; i++) part[i].p = p, part[i].cpu = cpu;
  if (n > 1 && !split_kernels(p, part, n)) {
    for (int i = 0; i < n; i++) free(part[i].only);
    return -1;
  }
  for (int i = 1; i < n; i++) started[i] = pthread_create(&tid[i], NULL, compile_part, &part[i]) == 0;
  compile_part(&part[0]);
  for (int i = 1; i < n; i++) {
    if (started[i])
      pthread_join(tid[i], NULL);
    else
      compile_part(&part[i]); /* no thread: here */
  }
  int failed = 0;
  for (int i = 0; i < n; i++) {
    free(part[i].only);
    if (!part[i].obj && !failed) {
      failed = 1;
      *err = part[i].err;
      part[i].err = NULL;
    }
    free(part[i].err);
  }
  if (failed) {
    for (int i = 0; i < n; i++)
      if (part[i].obj) LLVMDisposeMemoryBuffer(part[i].obj);
    return -1;
  }
  for (int i = 0; i < n; i++) objs[i] = part[i].obj;
  *nobj = n;
  return 0;
}

HostJit *host_jit_create(const Program *p, const char *cpu, const void *object, size_t object_size, void **made,
                         size_t *made_size, char **err) {
  *err = NULL;
  LLVMMemoryBufferRef objs[HOST_COMPILE_THREADS];
  int nobj = 0;
  if (object) {
    if ((nobj = unpack_objects(object, object_size, objs)) < 0) {
      *err = xstrdup("the cached host kernels are not a gmmc object blob");
      return NULL;
    }
  } else {
    if (compile_objects(p, cpu, objs, &nobj, err)) return NULL;
    if (made) {
      /* the cache's copy: without it the kernels still run, uncached */
      Part part[HOST_COMPILE_THREADS];
      for (int i = 0; i < nobj; i++) part[i].obj = objs[i];
      *made = pack_objects(part, nobj, made_size);
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
  while (nobj > 0) {
    e = LLVMOrcLLJITAddObjectFile(j->jit, dylib, objs[--nobj]); /* takes the buffer */
    if (e) {
      *err = take_error(e, "cannot add the kernels to the host JIT");
      goto fail;
    }
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
  while (nobj > 0) LLVMDisposeMemoryBuffer(objs[--nobj]);
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
