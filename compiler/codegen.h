/* LLVM IR generation from the loop IR, through the LLVM C API only.
 *
 * Every kernel of a program has the same parameters, in this order:
 *   one pointer per buffer (noalias; readonly where the kernel only reads it),
 *   i64 n_local, i64 n_total, one double per run-time scalar.
 * On the GPU the kernel is a PTX entry and the parallel loop is the global
 * thread index. On the host the kernel is an internal function with two more
 * parameters [lo, hi) of the parallel loop, called by an exported wrapper
 *   void NAME(uint64_t *args, int64_t lo, int64_t hi)
 * whose args array holds the parameters above as 8-byte slots. */
#ifndef GMMC_CODEGEN_H
#define GMMC_CODEGEN_H

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "loopir.h"

typedef enum { TARGET_HOST, TARGET_NVPTX } TargetKind;

/* Number of 8-byte argument slots of every kernel of p. */
int program_arg_slots(const Program *p);

/* Builds the module (triple and data layout taken from tm) with every
 * kernel, or only those marked in `only` (NULL: all). */
LLVMModuleRef codegen_module(const Program *p, LLVMContextRef ctx, LLVMTargetMachineRef tm, TargetKind target,
                             const unsigned char *only);

/* Element math written in IR (math_ir.c): exp and log for float and double,
 * vectorizable on the host and free of libm and libdevice on the GPU. */
LLVMValueRef math_exp_fn(LLVMModuleRef m, LLVMTypeRef t);
LLVMValueRef math_log_fn(LLVMModuleRef m, LLVMTypeRef t);

/* Runs the new pass manager's default<O3> pipeline. */
int optimize_module(LLVMModuleRef m, LLVMTargetMachineRef tm, char **err);

#endif
