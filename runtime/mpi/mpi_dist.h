/* The Dist of runtime/exec/dist.h over MPI (built with GMMC_MPI only). */
#ifndef GMMC_MPI_DIST_H
#define GMMC_MPI_DIST_H

#include <mpi.h>

#include "runtime/exec/dist.h"

/* A Dist over a duplicate of comm (the library's messages never mix with
 * the application's). Reads GMMC_PROFILE and the test hook GMMC_TEST_FAIL
 * ("RANK:load" or "RANK:reduce:K": that rank fails loading its data, or at
 * its K-th reduce point). */
gmmc_status mpi_dist_create(MPI_Comm comm, Dist **out, char **err);

/* The duplicated communicator of an MPI Dist. */
MPI_Comm mpi_dist_comm(const Dist *d);

/* GMMC_TEST_FAIL asks this rank to fail at `where` ("load"). */
int mpi_dist_fault(const Dist *d, const char *where);

#endif
