/* The k-means initialisation: k-means++ seeding on the host, then Lloyd
 * iterations with the shipped kmeans spec compiled for this backend. */
#ifndef GMMC_KMEANS_INIT_H
#define GMMC_KMEANS_INIT_H

#include "context.h"
#include "data.h"
#include "rng.h"

/* Greedy k-means++ (several trials per center, as scikit-learn does) over a
 * systematic sample of at most max(10000, 50 m) events; writes m event
 * indices. */
void kmeans_plusplus(const gmmc_data *d, int m, Rng *rng, int64_t *out);

/* Labels of every event after k-means from k-means++ seeds: Lloyd
 * iterations until the inertia improves by less than 1e-6 (relative) or 300
 * iterations. */
gmmc_status kmeans_labels(gmmc_context *ctx, const gmmc_data *d, int m, LType real, Rng *rng, int32_t *labels);

/* One event as float64. */
void data_row(const gmmc_data *d, int64_t row, double *out);

#endif
