/* The two targets of the same lowering: NVPTX (PTX text for the CUDA
 * driver) and the host CPU (object code through ORC LLJIT). */
#ifndef GMMC_TARGET_H
#define GMMC_TARGET_H

#include <stdint.h>

#include "codegen.h"

typedef struct {
  TargetKind kind;
  const char *arch; /* NVPTX: "sm_90" (default); host: NULL for the native CPU, or a name (host_cpu.h) */
  int ptx_version;  /* NVPTX: PTX ISA version as 78 for 7.8; 0 picks the arch's default */
  int no_opt;       /* skip the O3 pipeline (for reading the raw IR) */
  int jit;          /* host: the code runs on this machine, so arch must be one it can run */
} TargetOptions;

typedef enum { EMIT_IR, EMIT_ASM } EmitKind; /* ASM is PTX for NVPTX */

/* Compiles a program to text: LLVM IR (after optimization unless no_opt) or
 * PTX / host assembly. Returns malloc'd text, NULL with *err on failure, or
 * NULL with *err NULL when out of memory (alloc_last_failure). An LLVM
 * fatal error is a failure with its reason (llvm_fatal.h). */
char *target_emit(const Program *p, const TargetOptions *t, EmitKind what, char **err);

/* The same for the kernels marked in `only` (NULL: all). Each call has its
 * own LLVM context and target machine: calls may run in parallel threads. */
char *target_emit_kernels(const Program *p, const TargetOptions *t, EmitKind what, const unsigned char *only,
                          char **err);

/* The text of a module built for tm (target_emit's second half). */
char *emit_module(LLVMModuleRef m, LLVMTargetMachineRef tm, EmitKind what, int optimize, char **err);
/* The default PTX ISA version for an architecture such as "sm_90". */
int default_ptx_version(const char *arch);

/* Host JIT: compiles every kernel of p; kernels are then called as
 *   fn(args, lo, hi) with args laid out as in codegen.h. */
typedef void (*HostKernelFn)(uint64_t *args, int64_t lo, int64_t hi);
typedef struct HostJit HostJit;
/* cpu: NULL for this machine's CPU, or a level it runs (host_cpu.h).
 * object: the object blob of an earlier compilation of p for that CPU (the
 * kernel cache), or NULL to compile; then, when made is not NULL, *made
 * receives the new blob (malloc'd) for the cache. NULL with *err on
 * failure, *err NULL when out of memory. */
HostJit *host_jit_create(const Program *p, const char *cpu, const void *object, size_t object_size, void **made,
                         size_t *made_size, char **err);
/* host_jit_create in parts, for a backend that compiles some kernels while
 * others run. host_jit_compile compiles the kernels marked in only (NULL:
 * all) into a malloc'd blob of native objects, the cache's form (NULL with
 * *err, or *err NULL when out of memory); it touches no HostJit, and calls
 * may run on several threads at once. host_jit_open makes a JIT with no
 * kernels; host_jit_add links a blob's objects into it and looks up the
 * kernels marked in only (NULL: all): 0, or -1 with *err (NULL: out of
 * memory). host_jit_join: one blob of two blobs' objects (NULL when out of
 * memory or not blobs). */
void *host_jit_compile(const Program *p, const char *cpu, const unsigned char *only, size_t *size, char **err);
HostJit *host_jit_open(const Program *p, const char *cpu, char **err);
int host_jit_add(HostJit *j, const Program *p, const void *blob, size_t size, const unsigned char *only, char **err);
void *host_jit_join(const void *a, size_t na, const void *b, size_t nb, size_t *size);
/* The kernel's entry; NULL for one not added yet. */
HostKernelFn host_jit_kernel(const HostJit *j, int kernel);
void host_jit_free(HostJit *j);

void llvm_init_once(void);
LLVMTargetMachineRef make_target_machine(const TargetOptions *t, char **err);

#endif
