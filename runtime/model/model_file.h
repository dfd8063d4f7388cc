/* Model files: YAML, one top-level mapping (docs/model-file.md); the keys
 * the writer (model_file_save.c) and the reader (model_file_load.c) share.
 * model_file_check.c checks a loaded model against its own spec. */
#ifndef GMMC_MODEL_FILE_H
#define GMMC_MODEL_FILE_H

#define MODEL_FORMAT 1 /* the value of gmmc_model: */

/* The top-level keys, in the order they are written. */
enum {
  F_FORMAT,
  F_VERSION,
  F_SPEC_NAME,
  F_SPEC_FILE,
  F_SHIPPED,
  F_SPEC,
  F_SIZES,
  F_DTYPE,
  F_SCALARS,
  F_CONVERGED,
  F_N_ITER,
  F_LOWER_BOUND,
  F_LOWER_BOUNDS,
  F_N_COMPONENTS,
  F_N_FEATURES,
  F_N_PARAMETERS,
  F_PARAMS,
  NFIELDS
};
extern const char *const FIELD[NFIELDS];

#endif
