/* The k-means initialisation: k-means++ seeding on the host, then Lloyd
 * iterations with the shipped kmeans spec compiled for this backend. Both
 * see the events of all processes (MPI): the seeding draws the same sample
 * on every process, the iterations all-reduce at their reduce points. */
#ifndef GMMC_KMEANS_INIT_H
#define GMMC_KMEANS_INIT_H

#include "fit.h"
#include "rng.h"
#include "runtime/exec/context.h"
#include "runtime/io/data.h"

/* Greedy k-means++ (several trials per center, as scikit-learn does) over a
 * systematic sample of at most max(10000, 50 m) of all events; writes m
 * global event indices and, if centers is not NULL, those events (m x D).
 * With weights (fd->data->weights) every draw and potential is weighted:
 * the first center in proportion to the weights, the next ones to weight x
 * squared distance; an event of weight 0 is never drawn, and integer
 * weights draw what the rows repeated would. */
gmmc_status kmeans_plusplus(gmmc_context *ctx, const FitData *fd, int m, Rng *rng, int64_t *out, double *centers);

/* Rows of the events with the given global indices (n x D), wherever they
 * are: each process fills those it holds, a sum all-reduce the rest. */
gmmc_status gather_rows(gmmc_context *ctx, const FitData *fd, const int64_t *rows, int64_t n, double *out);
/* Their weights, the same way (1 each without weights). */
gmmc_status gather_weights(gmmc_context *ctx, const FitData *fd, const int64_t *rows, int64_t n, double *out);

/* k-means from k-means++ seeds (weighted k-means with weights: the kmeans
 * spec's optional data): Lloyd iterations until the inertia improves
 * by less than 1e-6 (relative) or 300 iterations. Keeps its exec for the
 * labels. */
typedef struct KMeans KMeans;
gmmc_status kmeans_fit(gmmc_context *ctx, const FitData *fd, int m, LType real, Rng *rng, KMeans **out);
/* Labels (nearest center) of local rows [row0, row0 + n), n <= fd->chunk. */
gmmc_status kmeans_labels(KMeans *km, int64_t row0, int64_t n, int32_t *labels, char **err);
void kmeans_free(KMeans *km);

#endif
