/* Copying a kernel's body into another kernel of the same program: the
 * source's variables become new variables of the destination (same names
 * and types), every statement and expression a copy that reads them. The
 * copy keeps the source's sharing of subexpressions, so that it is the same
 * code. What the merged runs of small statements (variants_merged.c) and
 * the stacked runs of independent units (variants_stacked.c) are made of. */
#ifndef GMMC_KERNEL_CLONE_H
#define GMMC_KERNEL_CLONE_H

#include "loopir.h"

/* The copy of src's body as a statement of dst (src has no shared arrays:
 * their indices are not renumbered); *var_offset receives what
 * is added to a variable index of src to give dst's (src's parallel loop
 * variable included). Out of memory escapes through the program's arena. */
LStmt *kernel_clone_body(Program *p, Kernel *dst, const Kernel *src, int *var_offset);
/* The same, with every read of ctaid.x in the copy replaced by `ctaid_x`
 * (an expression of dst's): a grid kernel's blocks placed at an offset of
 * dst's grid (variants_stacked.c). */
LStmt *kernel_clone_body_at(Program *p, Kernel *dst, const Kernel *src, int *var_offset, LExpr *ctaid_x);

#endif
