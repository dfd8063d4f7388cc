/* `mpirun -np R gmmc fit DATA ...`: the command line's side of MPI. Built
 * with MPI (GMMC_CLI_MPI) it starts MPI when a launcher started the process
 * (Open MPI, MPICH/Hydra, PMIx: srun, prterun), so that `gmmc fit` alone
 * still runs without one; built without MPI these are the one-process
 * versions. */
#include <stdlib.h>

#include "cli.h"
#include "gmmc/gmmc.h"

#ifdef GMMC_CLI_MPI
#include "gmmc/gmmc_mpi.h"

static int launched(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    if (getenv(vars[i])) return 1;
  return 0;
}

int cli_mpi_begin(void) {
  int init = 0, provided;
  MPI_Initialized(&init);
  if (init) return 1;
  if (!launched()) return 0;
  /* the host backend's worker threads never call MPI */
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    cli_error("MPI_Init failed");
    exit(1);
  }
  return 1;
}

void cli_mpi_end(int mpi) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (mpi && !fin) MPI_Finalize();
}

gmmc_status cli_context_create(int mpi, gmmc_context **ctx, gmmc_backend be) {
  return mpi ? gmmc_context_create_mpi(ctx, be, MPI_COMM_WORLD) : gmmc_context_create(ctx, be);
}

gmmc_status cli_data_load(int mpi, gmmc_context *ctx, const char *path, int64_t raw_dims, gmmc_data **out) {
  return mpi ? gmmc_data_load_part(ctx, path, raw_dims, out) : gmmc_data_load(ctx, path, raw_dims, out);
}

int cli_rank(int mpi, const gmmc_context *ctx) { return mpi ? gmmc_context_rank(ctx) : 0; }
int cli_ranks(int mpi, const gmmc_context *ctx) { return mpi ? gmmc_context_ranks(ctx) : 1; }

int64_t cli_total_rows(int mpi, const gmmc_data *d) {
  long long n = (long long)gmmc_data_rows(d), total = n;
  if (mpi) MPI_Allreduce(&n, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  return (int64_t)total;
}

int cli_agree_rc(int mpi, int rc) {
  int worst = rc;
  if (mpi) MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

#else

int cli_mpi_begin(void) { return 0; }
void cli_mpi_end(int mpi) { (void)mpi; }
gmmc_status cli_context_create(int mpi, gmmc_context **ctx, gmmc_backend be) { return gmmc_context_create(ctx, be); }
gmmc_status cli_data_load(int mpi, gmmc_context *ctx, const char *path, int64_t raw_dims, gmmc_data **out) {
  return gmmc_data_load(ctx, path, raw_dims, out);
}
int cli_rank(int mpi, const gmmc_context *ctx) { return 0; }
int cli_ranks(int mpi, const gmmc_context *ctx) { return 1; }
int64_t cli_total_rows(int mpi, const gmmc_data *d) { return gmmc_data_rows(d); }
int cli_agree_rc(int mpi, int rc) { return rc; }

#endif
