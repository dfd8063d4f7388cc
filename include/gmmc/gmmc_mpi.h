/* gmmc over MPI: data-parallel training across processes (and their GPUs).
 * Available when libgmmc was built with GMMC_MPI (then GMMC_HAVE_MPI is
 * defined below). See docs/api.md, "Data-parallel training with MPI", and
 * docs/mpi.md.
 *
 *   MPI_Init(&argc, &argv);
 *   gmmc_context *ctx;
 *   gmmc_context_create_mpi(&ctx, GMMC_BACKEND_AUTO, MPI_COMM_WORLD);
 *   gmmc_data *part;
 *   gmmc_data_load_part(ctx, "events.npy", 0, &part);  // this rank's rows
 *   gmmc_fit(ctx, part, opts, &model);                   // same model on every rank
 *   if (gmmc_context_rank(ctx) == 0) gmmc_model_save(ctx, model, "model.yaml");
 *   ...destroy the handles...
 *   gmmc_context_destroy(ctx);
 *   MPI_Finalize();
 *
 * Every call here and gmmc_fit on such a context is collective: all ranks
 * of the communicator make it, with the same options. */
#ifndef GMMC_GMMC_MPI_H
#define GMMC_GMMC_MPI_H

#include <mpi.h>

#include "gmmc/gmmc.h"

#define GMMC_HAVE_MPI 1

#ifdef __cplusplus
extern "C" {
#endif

/* A context that is one rank of comm (duplicated: gmmc's messages never mix
 * with the application's). The backend is chosen as gmmc_context_create
 * does, on the GPU whose ordinal is the rank's index among the ranks of its
 * host (MPI_COMM_TYPE_SHARED), unless GMMC_DEVICE names one; host worker
 * threads are the host's CPUs divided among its ranks. Every rank must end
 * up on the same kind of backend. MPI must be initialized; destroy the
 * context before MPI_Finalize. On failure *ctx is still set (for the
 * message), on every rank, with the same status. */
gmmc_status gmmc_context_create_mpi(gmmc_context **ctx, gmmc_backend backend, MPI_Comm comm);

/* This rank and the number of ranks (0 and 1 for a context without MPI). */
int gmmc_context_rank(const gmmc_context *ctx);
int gmmc_context_ranks(const gmmc_context *ctx);

/* This rank's share of a data file: rows [r N / R, (r + 1) N / R) of its N
 * rows for rank r of R. .npy and raw float32 files: each rank maps only its
 * rows. .csv: rank 0 reads the file and sends each rank its rows. If any
 * rank fails, all fail with that rank's message. Without MPI: the whole
 * file, as gmmc_data_load. */
gmmc_status gmmc_data_load_part(gmmc_context *ctx, const char *path, int64_t raw_dims, gmmc_data **out);

#ifdef __cplusplus
}
#endif
#endif
