/* The gmmc command-line tool: one file per subcommand. */
#ifndef GMMC_CLI_H
#define GMMC_CLI_H

#include <stdint.h>

#include "dsl/ast.h"
#include "gmmc/gmmc.h"

int cmd_compile(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* --sample-weight FILE (sample_weight.c): reads one weight per row of data
 * (.npy (N,) or (N, 1), float32/float64, or a one-column .csv) and sets
 * them in fo; 0, or 1 after printing what is wrong and where (the row). */
int cli_set_sample_weight(int mpi, gmmc_context *ctx, const char *path, const gmmc_data *data, gmmc_fit_options *fo);

/* gmmc fit --many DIR (fit_many.c): every .npy of dir trained with fo in one
 * gmmc_fit_many call, the models written to outdir/<name>.yaml; the exit
 * code (1 when a file failed, after the others were written). */
int cli_fit_many(gmmc_context *ctx, const char *dir, const char *outdir, gmmc_fit_options *fo);

/* Prints "gmmc: error: ..." to stderr; returns 1 for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads SPEC, a file path or the name of a shipped spec. NULL after printing
 * the error. */
Spec *cli_load_spec(const char *arg);

/* Parses "M=16,D=4" into one value per size of the spec. */
int cli_parse_sizes(const Spec *s, const char *text, int64_t *values);

int cli_write_output(const char *path, const char *text);
/* Whether two paths name the same existing file (an output that would
 * overwrite an input). */
int cli_same_file(const char *a, const char *b);
/* Before any work: the directory of an output file must exist and be
 * writable. Prints the error and returns 1, or returns 0. */
int cli_check_output_dir(const char *path);

/* MPI for `mpirun -np R gmmc fit` (mpi_launch.c; one process without MPI).
 * cli_mpi_begin starts MPI when a launcher started this process and returns
 * whether MPI is in use; the calls below take that flag. */
int cli_mpi_begin(void);
void cli_mpi_end(int mpi);
gmmc_status cli_context_create(int mpi, gmmc_context **ctx, gmmc_backend be);
/* This rank's rows of the file (all of them alone). */
gmmc_status cli_data_load(int mpi, gmmc_context *ctx, const char *path, int64_t raw_dims, gmmc_data **out);
int cli_rank(int mpi, const gmmc_context *ctx);
int cli_ranks(int mpi, const gmmc_context *ctx);
int64_t cli_total_rows(int mpi, const gmmc_data *d);
/* The largest exit code of all ranks, so that all exit alike. */
int cli_agree_rc(int mpi, int rc);

#endif
