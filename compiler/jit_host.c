/* The host target: the program's kernels, optimized for the native CPU, are
 * compiled to native object files, which ORC LLJIT links into this process.
 * A cold compile splits the kernels into a few modules of about equal size
 * (Kernel.weight) compiled on as many threads as the process has CPUs, up
 * to HOST_COMPILE_THREADS: every alternative of every unit is compiled
 * before the fit, and one O3 pipeline over all of them is most of a cold
 * start. The objects can come from the kernel cache instead
 * (runtime/device/backend_host.c), as one blob (pack_objects); a backend
 * may compile some kernels first and the rest on a thread of its own
 * (host_jit_compile, host_jit_add), the blobs then joined for the cache. */
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

/* Threads for a cold compile of nk kernels: the CPUs this process may run
 * on, at most HOST_COMPILE_THREADS and one per kernel. One in
 * fault-injection builds, whose failures are counted in one order. */
static int compile_threads(int nk) {
#ifdef GMMC_FAULT_INJECTION
  (void)nk;
  return 1;
#else
  cpu_set_t set;
  int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  if (n > HOST_COMPILE_THREADS) n = HOST_COMPILE_THREADS;
  if (n > nk) n = nk;
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

/* The kernels marked in only (NULL: all) into nparts groups of about equal
 * weight, heaviest first into the lightest group: part[g].only marks group
 * g's. 0 when out of memory. */
static int split_kernels(const Program *p, const unsigned char *only, Part *part, int nparts) {
  int64_t *load = xcalloc((size_t)nparts, sizeof *load);
  unsigned char *done = xcalloc((size_t)p->nkernels + 1, 1);
  int ok = load && done;
  for (int g = 0; ok && g < nparts; g++) ok = (part[g].only = xcalloc((size_t)p->nkernels + 1, 1)) != NULL;
  for (int k = 0; ok && only && k < p->nkernels; k++) done[k] = !only[k];
  for (int n = 0; ok && n < p->nkernels; n++) {
    int best = -1, g = 0;
    for (int k = 0; k < p->nkernels; k++)
      if (!done[k] && (best < 0 || p->kernels[k]->weight > p->kernels[best]->weight)) best = k;
    if (best < 0) break;
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
enum { HOST_BLOB_OBJECTS = 64 }; /* at most, in a blob read back (a sanity bound) */

static void *pack_parts(const unsigned char *const *start, const size_t *len, int n, size_t *size) {
  size_t total = sizeof PACK_MAGIC + 8 + 8 * (size_t)n;
  for (int i = 0; i < n; i++) total += len[i];
  unsigned char *b = xmalloc(total + 1);
  if (!b) return NULL;
  memcpy(b, PACK_MAGIC, sizeof PACK_MAGIC);
  uint64_t v = (uint64_t)n, at = sizeof PACK_MAGIC + 8 + 8 * (uint64_t)n;
  memcpy(b + sizeof PACK_MAGIC, &v, 8);
  for (int i = 0; i < n; i++) {
    v = len[i];
    memcpy(b + sizeof PACK_MAGIC + 8 + 8 * (size_t)i, &v, 8);
    memcpy(b + at, start[i], len[i]);
    at += v;
  }
  *size = total;
  return b;
}

/* Where each object of a blob lies (a packed one, or one object as older
 * caches hold it), into start/len (room for HOST_BLOB_OBJECTS); returns how
 * many, -1 for a blob that is neither. */
static int blob_parts(const unsigned char *b, size_t size, const unsigned char **start, size_t *len) {
  if (size < sizeof PACK_MAGIC + 8 || memcmp(b, PACK_MAGIC, sizeof PACK_MAGIC) != 0) {
    start[0] = b;
    len[0] = size;
    return 1;
  }
  uint64_t n;
  memcpy(&n, b + sizeof PACK_MAGIC, 8);
  if (n < 1 || n > HOST_BLOB_OBJECTS || size < sizeof PACK_MAGIC + 8 + 8 * n) return -1;
  size_t at = sizeof PACK_MAGIC + 8 + 8 * (size_t)n;
  for (size_t i = 0; i < n; i++) {
    uint64_t l;
    memcpy(&l, b + sizeof PACK_MAGIC + 8 + 8 * i, 8);
    if (l > size - at) return -1;
    start[i] = b + at;
    len[i] = (size_t)l;
    at += (size_t)l;
  }
  return (int)n;
}

void *host_jit_join(const void *a, size_t na, const void *b, size_t nb, size_t *size) {
  const unsigned char *start[2 * HOST_BLOB_OBJECTS];
  size_t len[2 * HOST_BLOB_OBJECTS];
  int n = blob_parts(a, na, start, len), m = n < 0 ? -1 : blob_parts(b, nb, start + n, len + n);
  return m < 0 || n + m > HOST_BLOB_OBJECTS ? NULL : pack_parts(start, len, n + m, size);
}

void *host_jit_compile(const Program *p, const char *cpu, const unsigned char *only, size_t *size, char **err) {
  *err = NULL;
  int nk = 0;
  for (int k = 0; k < p->nkernels; k++) nk += !only || only[k];
  int n = compile_threads(nk);
  Part part[HOST_COMPILE_THREADS];
  pthread_t tid[HOST_COMPILE_THREADS];
  int started[HOST_COMPILE_THREADS] = {0};
  memset(part, 0, sizeof part);
  for (int i = 0; i < n; i++) part[i].p = p, part[i].cpu = cpu;
  if (!split_kernels(p, only, part, n)) {
    for (int i = 0; i < n; i++) free(part[i].only);
    return NULL;
  }
  for (int i = 1; i < n; i++) started[i] = pthread_create(&tid[i], NULL, compile_part, &part[i]) == 0;
  compile_part(&part[0]);
  for (int i = 1; i < n; i++) {
    if (started[i])
      pthread_join(tid[i], NULL);
    else
      compile_part(&part[i]); /* no thread: here */
  }
  const unsigned char *start[HOST_COMPILE_THREADS];
  size_t len[HOST_COMPILE_THREADS];
  int failed = 0;
  for (int i = 0; i < n; i++) {
    free(part[i].only);
    if (!part[i].obj && !failed) {
      failed = 1;
      *err = part[i].err; /* NULL: out of memory */
      part[i].err = NULL;
    }
    free(part[i].err);
    if (part[i].obj) {
      start[i] = (const unsigned char *)LLVMGetBufferStart(part[i].obj);
      len[i] = LLVMGetBufferSize(part[i].obj);
    }
  }
  void *blob = failed ? NULL : pack_parts(start, len, n, size);
  for (int i = 0; i < n; i++)
    if (part[i].obj) LLVMDisposeMemoryBuffer(part[i].obj);
  return blob;
}

HostJit *host_jit_open(const Program *p, const char *cpu, char **err) {
  *err = NULL;
  /* the JIT links objects into this process; its target machine is the
   * one they were made for */
  TargetOptions topt = {.kind = TARGET_HOST, .arch = cpu, .jit = 1};
  HostJit *j = xcalloc(1, sizeof(HostJit));
  if (!j) return NULL;
  j->nfns = p->nkernels;
  j->fns = xcalloc((size_t)p->nkernels + 1, sizeof(HostKernelFn));
  LLVMTargetMachineRef jtm = j->fns ? make_target_machine(&topt, err) : NULL;
  if (!jtm) {
    host_jit_free(j);
    return NULL;
  }
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jtm));
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, builder);
  if (e) {
    *err = take_error(e, "cannot create the host JIT");
    host_jit_free(j);
    return NULL;
  }
  LLVMOrcDefinitionGeneratorRef gen;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
  if (e) {
    *err = take_error(e, "cannot create the host JIT symbol resolver");
    host_jit_free(j);
    return NULL;
  }
  LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
  return j;
}

int host_jit_add(HostJit *j, const Program *p, const void *blob, size_t size, const unsigned char *only, char **err) {
  *err = NULL;
  const unsigned char *start[HOST_BLOB_OBJECTS];
  size_t len[HOST_BLOB_OBJECTS];
  int n = blob_parts(blob, size, start, len);
  if (n < 0) {
    *err = xstrdup("the cached host kernels are not a gmmc object blob");
    return -1;
  }
  LLVMOrcJITDylibRef dylib = LLVMOrcLLJITGetMainJITDylib(j->jit);
  for (int i = 0; i < n; i++) {
    LLVMMemoryBufferRef obj = LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)start[i], len[i], "gmmc-kernels");
    if (!obj) return -1;
    LLVMErrorRef e = LLVMOrcLLJITAddObjectFile(j->jit, dylib, obj); /* takes the buffer */
    if (e) {
      *err = take_error(e, "cannot add the kernels to the host JIT");
      return -1;
    }
  }
  for (int k = 0; k < p->nkernels && k < j->nfns; k++) {
    if (only && !only[k]) continue;
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef e = LLVMOrcLLJITLookup(j->jit, &addr, p->kernels[k]->name);
    if (e) {
      *err = take_error(e, "host JIT linking failed");
      return -1;
    }
    j->fns[k] = (HostKernelFn)(uintptr_t)addr;
  }
  return 0;
}

HostJit *host_jit_create(const Program *p, const char *cpu, const void *object, size_t object_size, void **made,
                         size_t *made_size, char **err) {
  *err = NULL;
  size_t size = object_size;
  void *compiled = object ? NULL : host_jit_compile(p, cpu, NULL, &size, err);
  const void *blob = object ? object : compiled;
  HostJit *j = blob ? host_jit_open(p, cpu, err) : NULL;
  if (j && host_jit_add(j, p, blob, size, NULL, err)) {
    host_jit_free(j);
    j = NULL;
  }
  if (j && made) { /* the cache's copy: the blob itself */
    *made = compiled;
    *made_size = size;
    compiled = NULL;
  }
  free(compiled);
  return j;
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
