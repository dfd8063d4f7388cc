/* A trained model: the spec it was trained with, the sizes of its
 * specialization and every parameter as float64. The definition behind the
 * public gmmc_model handle. Model files hold exactly this (written by
 * model_file_save.c, read by model_file_load.c, checked against their spec
 * by model_file_check.c). */
#ifndef GMMC_RUNTIME_MODEL_H
#define GMMC_RUNTIME_MODEL_H

#include <stdint.h>

#include "gmmc/gmmc.h"

#define GMMC_MODEL_MAX_RANK 4

typedef struct {
  char *name;
  int rank;
  int64_t shape[GMMC_MODEL_MAX_RANK];
  int64_t count; /* product of shape */
  double *values;
} ModelParam;

struct gmmc_model {
  char *spec_name; /* the spec's model name, e.g. "gmm_full" */
  char *spec_file; /* name used in messages, e.g. "gmm_full.yaml" */
  char *spec_text; /* the whole spec, so that the model can be compiled again */
  int shipped;     /* the spec is one of the shipped ones (text kept anyway) */
  int nsizes;      /* fixed sizes of the specialization (not the event count) */
  char **size_names;
  int64_t *size_values;
  gmmc_dtype dtype; /* GMMC_FLOAT32 or GMMC_FLOAT64 */
  int nscalars;
  char **scalar_names;
  double *scalar_values;
  int nparams;
  ModelParam *params;
  int converged;
  int n_iter;
  double lower_bound;
  double *lower_bounds; /* per iteration of the best initialisation */
  int n_lower_bounds;
  int n_components;
  int n_features;
  double n_parameters;
  char **param_name_list; /* NULL-terminated, for gmmc_model_param_names */
};

gmmc_model *model_new(void);
void model_free(gmmc_model *m);
ModelParam *model_find_param(const gmmc_model *m, const char *name);
/* Adds a parameter (values copied). */
ModelParam *model_add_param(gmmc_model *m, const char *name, int rank, const int64_t *shape, const double *values);

/* Model files: YAML written with libyaml's emitter (docs/model-file.md).
 * Saving writes to a temporary file in the same directory and renames it, so
 * a crash never leaves a half-written model. Loading checks every field and
 * names the line of a bad one. Errors return a status and a malloc'd *err. */
gmmc_status model_file_save(const gmmc_model *m, const char *path, char **err);
gmmc_status model_file_load(const char *path, gmmc_model **out, char **err);
/* Refuses a loaded model whose sizes or parameters disagree with its own spec. */
gmmc_status model_file_check_spec(const gmmc_model *m, const char *path, char **err);

#endif
