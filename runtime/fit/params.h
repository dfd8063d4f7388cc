/* A model's parameters bound to an exec (params.c): what the EM driver,
 * its initialisation, inference and gmmc bench share. */
#ifndef GMMC_PARAMS_H
#define GMMC_PARAMS_H

#include "runtime/exec/context.h"
#include "runtime/model/model.h"

/* Writes every parameter of a model into an exec and runs the derived step. */
gmmc_status em_load_params(gmmc_context *ctx, Exec *e, const gmmc_model *m);

/* Reads every parameter of the exec into a model (replacing its values). */
gmmc_status em_store_params(gmmc_context *ctx, Exec *e, gmmc_model *m);

/* Converts builtin failures into an error naming the component. */
gmmc_status em_check_builtins(gmmc_context *ctx, Exec *e, const char *when);
/* The same for the verdict exec_status_find gave on words read elsewhere
 * (GMMC_OK for slot -1). */
gmmc_status em_builtin_failure(gmmc_context *ctx, Exec *e, int slot, int code, const char *when);

#endif
