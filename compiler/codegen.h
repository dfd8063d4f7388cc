/* LLVM IR generation from the loop IR, through the LLVM C API only.
 *
 * A program's argument slots are, in this order: one pointer per buffer,
 * i64 n_local, i64 n_total, one double per run-time scalar. A kernel takes
 * the slots of the buffers it reads or writes (noalias; readonly where it
 * only reads), in buffer order, then the others (kernel_param_slots): its
 * code does not depend on how many buffers the program has, so the same
 * kernel lowered in a program with fewer variants is the same code.
 * On the GPU the kernel is a PTX entry and the parallel loop is the global
 * thread index. On the host the kernel is an internal function with two more
 * parameters [lo, hi) of the parallel loop, called by an exported wrapper
 *   void NAME(uint64_t *args, int64_t lo, int64_t hi)
 * whose args array holds all of the program's slots. */
#ifndef GMMC_CODEGEN_H
#define GMMC_CODEGEN_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "loopir.h"

typedef enum { TARGET_HOST, TARGET_NVPTX } TargetKind;

/* Number of 8-byte argument slots of p. */
int program_arg_slots(const Program *p);
/* The slots kernel k takes, in parameter order, into `slots` (room for
 * program_arg_slots(p); may be NULL); returns how many. */
int kernel_param_slots(const Program *p, const Kernel *k, int *slots);
/* A digest of everything gen_kernel reads to make kernel k: equal digests
 * (from one build of gmmc, for one target) mean the same code, whatever
 * else the program holds. */
uint64_t kernel_code_digest(const Program *p, const Kernel *k);

/* Builds the module (triple and data layout taken from tm) with every
 * kernel, or only those marked in `only` (NULL: all); NULL when out of memory. */
LLVMModuleRef codegen_module(const Program *p, LLVMContextRef ctx, LLVMTargetMachineRef tm, TargetKind target,
                             const unsigned char *only);

/* Element math written in IR for float and double, vectorizable on the host
 * and free of libm and libdevice on the GPU: exp and log (math_ir.c), log1p
 * and pow (math_pow.c), lgamma and digamma (math_gamma.c). */
LLVMValueRef math_exp_fn(LLVMModuleRef m, LLVMTypeRef t);
LLVMValueRef math_log_fn(LLVMModuleRef m, LLVMTypeRef t);
LLVMValueRef math_log1p_fn(LLVMModuleRef m, LLVMTypeRef t);
LLVMValueRef math_pow_fn(LLVMModuleRef m, LLVMTypeRef t); /* two arguments */
LLVMValueRef math_lgamma_fn(LLVMModuleRef m, LLVMTypeRef t);
LLVMValueRef math_digamma_fn(LLVMModuleRef m, LLVMTypeRef t);

/* Runs the new pass manager's default<O3> pipeline. */
int optimize_module(LLVMModuleRef m, LLVMTargetMachineRef tm, char **err);

#endif
