/* Data-parallel EM over MPI against one process, on the host backend.
 *
 *   test_mpi_fit fit COV DIR     (under mpirun -np R) rank 0 writes fresh
 *       mixture data as .npy (the seed printed; GMMC_TEST_SEED=N replays
 *       it), every rank fits its share (gmmc_context_create_mpi,
 *       gmmc_data_load_part) with each initialisation, float64 and float32
 *       data, in memory and streamed in chunks; rank 0 fits the whole file
 *       in one process and compares: the same number of iterations, the
 *       lower bound of every iteration within 1e-8 (relative) and every
 *       parameter within 1e-6 (of its array's largest value) — the runs
 *       differ only by the order of float64 additions in the all-reduce —
 *       and every rank must hold bit-identical lower bounds.
 *   test_mpi_fit write PATH [NAN_ROW]   writes such data (with a NaN at
 *       NAN_ROW) for the command-line tests: PATH.npy and PATH_f32.npy, or
 *       PATH.csv.
 *   test_mpi_fit compare A B     compares two model files as above. */
#include <mpi.h>

#include "gmmc/gmmc_mpi.h"
#include "stream/fit_compare.h"

enum { N = 20011, D = 4, M = 3 }; /* N: slices of unequal sizes */

static int write_npy(const char *path, const void *v, int f32, int64_t n, int d) {
  char dict[128], hdr[256];
  snprintf(dict, sizeof dict, "{'descr': '<f%d', 'fortran_order': False, 'shape': (%lld, %d), }", f32 ? 4 : 8,
           (long long)n, d);
  size_t len = strlen(dict), total = (10 + len + 1 + 63) / 64 * 64;
  memset(hdr, ' ', sizeof hdr);
  memcpy(hdr, "\x93NUMPY\x01\x00", 8);
  hdr[8] = (char)((total - 10) & 0xff);
  hdr[9] = (char)((total - 10) >> 8);
  memcpy(hdr + 10, dict, len);
  hdr[total - 1] = '\n';
  FILE *f = fopen(path, "wb");
  if (!f) return 1;
  int bad = fwrite(hdr, 1, total, f) != total || fwrite(v, f32 ? 4 : 8, (size_t)(n * d), f) != (size_t)(n * d);
  return fclose(f) != 0 || bad;
}

static int write_csv(const char *path, const double *x) {
  FILE *f = fopen(path, "w");
  if (!f) return 1;
  fprintf(f, "x0,x1,x2,x3\n");
  for (int64_t i = 0; i < N; i++)
    for (int j = 0; j < D; j++) fprintf(f, "%.17g%c", x[i * D + j], j + 1 < D ? ',' : '\n');
  return fclose(f) != 0;
}

/* f64 and f32 .npy files of the same events, or one .csv file. */
static int write_data(const char *base, uint64_t seed, int64_t nan_row) {
  double *x = malloc(sizeof(double) * N * D);
  float *xf = malloc(sizeof(float) * N * D);
  tc_mixture(seed, N, D, M, x);
  if (nan_row >= 0) x[nan_row * D + 1] = NAN;
  size_t len = strlen(base);
  if (len > 4 && strcmp(base + len - 4, ".csv") == 0) {
    int bad = write_csv(base, x);
    free(x);
    free(xf);
    return bad;
  }
  for (int64_t i = 0; i < (int64_t)N * D; i++) xf[i] = (float)x[i];
  char p64[4096], p32[4096];
  snprintf(p64, sizeof p64, "%s", base);
  snprintf(p32, sizeof p32, "%.*s_f32.npy", (int)strlen(base) - 4, base);
  int bad = write_npy(p64, x, 0, N, D) || write_npy(p32, xf, 1, N, D);
  if (bad) printf("cannot write %s\n", base);
  free(x);
  free(xf);
  return bad;
}

static gmmc_model *fit(gmmc_context *ctx, gmmc_data *d, const char *cov, gmmc_init init, int64_t chunk) {
  gmmc_fit_options *o;
  gmmc_fit_options_create(&o);
  gmmc_fit_options_set_n_components(o, M);
  gmmc_fit_options_set_covariance_type(o, cov);
  gmmc_fit_options_set_init(o, init);
  gmmc_fit_options_set_seed(o, 11);
  gmmc_fit_options_set_tol(o, 0);
  gmmc_fit_options_set_max_iter(o, 10);
  gmmc_fit_options_set_chunk_events(o, chunk);
  gmmc_model *m = NULL;
  if (gmmc_fit(ctx, d, o, &m)) printf("  FAIL fit: %s\n", gmmc_last_error(ctx));
  gmmc_fit_options_destroy(o);
  return m;
}

static int run_fit(const char *cov, const char *dir) {
  int rank, size, failures = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  unsigned long long seed = tc_seed();
  MPI_Bcast(&seed, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  char path[4096], path32[4096];
  snprintf(path, sizeof path, "%s/mpi_np%d_%s.npy", dir, size, cov);
  snprintf(path32, sizeof path32, "%s/mpi_np%d_%s_f32.npy", dir, size, cov);
  int bad = rank == 0 ? write_data(path, seed, -1) : 0;
  MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (bad) return 1;
  if (rank == 0)
    printf("test_mpi_fit %s on %d ranks: %d events x %d, seed %llu (GMMC_TEST_SEED=%llu replays it)\n", cov, size, N, D,
           seed, seed);
  unsetenv("GMMC_CHUNK_EVENTS");
  gmmc_context *ctx, *one = NULL;
  if (gmmc_context_create_mpi(&ctx, GMMC_BACKEND_HOST, MPI_COMM_WORLD)) {
    printf("FAIL rank %d: %s\n", rank, gmmc_last_error(ctx));
    return 1;
  }
  if (rank == 0 && gmmc_context_create(&one, GMMC_BACKEND_HOST)) {
    printf("FAIL: %s\n", gmmc_last_error(one));
    failures++;
  }
  static const struct {
    gmmc_init init;
    const char *name;
    int64_t chunk;
    int f32;
  } runs[] = {{GMMC_INIT_KMEANS, "kmeans", 0, 0},   {GMMC_INIT_KMEANS_PLUSPLUS, "k-means++", 0, 0},
              {GMMC_INIT_RANDOM, "random", 0, 0},   {GMMC_INIT_RANDOM_FROM_DATA, "random_from_data", 0, 0},
              {GMMC_INIT_KMEANS, "kmeans", 0, 1},   {GMMC_INIT_RANDOM, "random", 1000, 0},
              {GMMC_INIT_KMEANS, "kmeans", 1000, 1}};
  for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
    const char *file = runs[r].f32 ? path32 : path;
    gmmc_data *part = NULL, *all = NULL;
    if (gmmc_data_load_part(ctx, file, 0, &part)) {
      printf("FAIL rank %d: %s\n", rank, gmmc_last_error(ctx));
      failures++;
      break;
    }
    gmmc_model *dm = fit(ctx, part, cov, runs[r].init, runs[r].chunk);
    /* every rank holds the same model */
    int n = 0;
    const double *lbs = dm ? gmmc_model_lower_bounds(dm, &n) : NULL;
    double v[2] = {lbs && n ? lbs[n - 1] : 0, lbs && n ? -lbs[n - 1] : 0};
    MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    int fails = !dm;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
      char what[160];
      snprintf(what, sizeof what, "%s, init %s, %s%s", cov, runs[r].name, runs[r].f32 ? "float32" : "float64",
               runs[r].chunk ? ", chunks of 1000" : "");
      if (fails) {
        printf("  FAIL %s: %d ranks failed\n", what, fails);
        failures++;
      } else if (v[0] != -v[1]) {
        printf("  FAIL %s: the ranks' final lower bounds differ (%.17g to %.17g)\n", what, -v[1], v[0]);
        failures++;
      }
      gmmc_model *om = NULL;
      if (one && !gmmc_data_load(one, file, 0, &all)) om = fit(one, all, cov, runs[r].init, 0);
      if (om && dm)
        failures += tc_compare(om, dm, 1e-8, 1e-6, what) != 0;
      else
        failures++;
      gmmc_model_destroy(om);
      gmmc_data_destroy(all);
    }
    gmmc_model_destroy(dm);
    gmmc_data_destroy(part);
  }
  gmmc_context_destroy(one);
  gmmc_context_destroy(ctx);
  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf(failures ? "test_mpi_fit: %d FAILED\n" : "test_mpi_fit: all passed\n", failures);
  return failures != 0;
}

static int run_compare(const char *a, const char *b) {
  gmmc_context *ctx;
  gmmc_model *ma = NULL, *mb = NULL;
  gmmc_context_create(&ctx, GMMC_BACKEND_HOST);
  int bad = gmmc_model_load(ctx, a, &ma) || gmmc_model_load(ctx, b, &mb);
  if (bad)
    printf("FAIL: %s\n", gmmc_last_error(ctx));
  else
    bad = tc_compare(ma, mb, 1e-8, 1e-6, "one process against MPI") != 0;
  gmmc_model_destroy(ma);
  gmmc_model_destroy(mb);
  gmmc_context_destroy(ctx);
  return bad;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "write") == 0) {
    uint64_t seed = tc_seed();
    printf("writing %s, seed %llu\n", argv[2], (unsigned long long)seed);
    return write_data(argv[2], seed, argc > 3 ? atoll(argv[3]) : -1);
  }
  if (argc == 4 && strcmp(argv[1], "compare") == 0) return run_compare(argv[2], argv[3]);
  if (argc != 4 || strcmp(argv[1], "fit") != 0) {
    fprintf(stderr, "usage: test_mpi_fit fit COV DIR | write PATH [NAN_ROW] | compare A B\n");
    return 2;
  }
  MPI_Init(&argc, &argv);
  int rc = run_fit(argv[2], argv[3]);
  MPI_Finalize();
  return rc;
}
