/* gmmc — train Gaussian mixture models (and other EM-trained mixtures) with
 * EM kernels specialized from a declarative spec.
 *
 * Conventions: every object is an opaque handle; every call that can fail
 * returns a gmmc_status, and the message of the last failure of a context is
 * gmmc_last_error(ctx). Nothing is global: two contexts share no state. A
 * context is used by one thread at a time. Arrays are row-major (C order).
 * See docs/api.md. */
#ifndef GMMC_GMMC_H
#define GMMC_GMMC_H

#include <stddef.h>
#include <stdint.h>

#include "gmmc/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  GMMC_OK = 0,
  GMMC_ERR_INVALID_ARGUMENT = 1, /* a bad value passed to a call */
  GMMC_ERR_SPEC = 2,             /* the model spec has an error (file:line:col in the message) */
  GMMC_ERR_COMPILE = 3,          /* code generation failed */
  GMMC_ERR_IO = 4,               /* a file could not be read or written */
  GMMC_ERR_DATA = 5,             /* malformed data (the message names row/column or byte) */
  GMMC_ERR_NUMERIC = 6,          /* e.g. a covariance that is not positive definite */
  GMMC_ERR_DEVICE = 7,           /* a CUDA driver call failed */
  GMMC_ERR_NO_DEVICE = 8,        /* the CUDA backend was asked for but there is no usable GPU */
  GMMC_ERR_OUT_OF_MEMORY = 9,
  GMMC_ERR_INTERNAL = 10
} gmmc_status;

typedef enum { GMMC_BACKEND_AUTO = 0, GMMC_BACKEND_HOST = 1, GMMC_BACKEND_CUDA = 2 } gmmc_backend;
typedef enum { GMMC_DTYPE_AUTO = 0, GMMC_FLOAT32 = 1, GMMC_FLOAT64 = 2 } gmmc_dtype;
typedef enum {
  GMMC_INIT_KMEANS = 0,          /* k-means (k-means++ seeding, Lloyd iterations); the default */
  GMMC_INIT_KMEANS_PLUSPLUS = 1, /* k-means++ seeds as one-point responsibilities */
  GMMC_INIT_RANDOM = 2,          /* random responsibilities */
  GMMC_INIT_RANDOM_FROM_DATA = 3 /* random events as one-point responsibilities */
} gmmc_init;

typedef struct gmmc_context gmmc_context;
typedef struct gmmc_data gmmc_data;
typedef struct gmmc_fit_options gmmc_fit_options;
typedef struct gmmc_model gmmc_model;

/* "1.0.0"; the header's GMMC_VERSION_STRING is the version compiled against. */
const char *gmmc_version(void);
const char *gmmc_status_name(gmmc_status s);

/* ---- context ---------------------------------------------------------------
 * Owns the backend (GPU or host threads), the compiled-kernel caches and the
 * last error message. GMMC_BACKEND_AUTO picks the GPU when one is usable and
 * the host otherwise; forcing GMMC_BACKEND_CUDA without one fails with
 * GMMC_ERR_NO_DEVICE. On failure *ctx is still set (when ctx is not NULL) so
 * that the message can be read; destroy it afterwards. */
gmmc_status gmmc_context_create(gmmc_context **ctx, gmmc_backend backend);
void gmmc_context_destroy(gmmc_context *ctx);
const char *gmmc_last_error(const gmmc_context *ctx);
gmmc_backend gmmc_context_backend(const gmmc_context *ctx);
/* "NVIDIA H100 80GB HBM3 (sm_90)" or "host: 16 threads, x86-64 (znver3)". */
const char *gmmc_context_device(const gmmc_context *ctx);
/* Why GMMC_BACKEND_AUTO chose the host ("no CUDA driver: ..."), or NULL. */
const char *gmmc_context_note(const gmmc_context *ctx);
/* Host worker threads (0: one per core). */
gmmc_status gmmc_context_set_threads(gmmc_context *ctx, int threads);
/* The CPU the host backend compiles for: NULL or "native" (the default:
 * this machine's), or an x86-64 level this machine can run: "x86-64",
 * "x86-64-v2", "x86-64-v3" (AVX2, FMA), "x86-64-v4" (AVX-512), so that
 * results match those of a machine of that level bit for bit
 * (docs/limits.md). The default is $GMMC_HOST_CPU when set. Fails with
 * GMMC_ERR_INVALID_ARGUMENT for an unknown name or a level this machine
 * lacks; the kernels compiled so far are dropped. */
gmmc_status gmmc_context_set_host_cpu(gmmc_context *ctx, const char *cpu);
/* Directory of the on-disk kernel cache; NULL disables it. The default is
 * $GMMC_CACHE_DIR, else $XDG_CACHE_HOME/gmmc, else ~/.cache/gmmc;
 * GMMC_CACHE=0 in the environment disables it. */
gmmc_status gmmc_context_set_cache_dir(gmmc_context *ctx, const char *dir);
/* Specializations this context compiled with LLVM, those it loaded from the
 * on-disk kernel cache instead, and the milliseconds spent on both. */
void gmmc_context_compile_stats(const gmmc_context *ctx, int *compiled, int *cached, double *ms);
/* Called with one line per warning (e.g. "did not converge"); default: none. */
typedef void (*gmmc_message_fn)(void *user, const char *message);
void gmmc_context_set_warning_handler(gmmc_context *ctx, gmmc_message_fn fn, void *user);

/* ---- data ----------------------------------------------------------------------
 * An N x D matrix of events. gmmc_data_load reads .npy (float32/float64, C
 * order; memory-mapped; integer and boolean arrays into float64, for specs
 * of integer or binary data), .csv (optional header row) or raw little-endian
 * float32 (raw_dims = D; 0 for the other formats). gmmc_data_wrap uses the
 * caller's memory without copying; it must outlive the handle. */
gmmc_status gmmc_data_load(gmmc_context *ctx, const char *path, int64_t raw_dims, gmmc_data **out);
gmmc_status gmmc_data_wrap(gmmc_context *ctx, const void *values, gmmc_dtype dtype, int64_t rows, int64_t cols,
                           gmmc_data **out);
void gmmc_data_destroy(gmmc_data *data);
int64_t gmmc_data_rows(const gmmc_data *data);
int64_t gmmc_data_cols(const gmmc_data *data);
gmmc_dtype gmmc_data_dtype(const gmmc_data *data);
/* The values, row-major, of the type gmmc_data_dtype says (for device
 * data: the device address it was made with). */
const void *gmmc_data_values(const gmmc_data *data);
/* Device data (since 1.1): rows x cols values in the memory of GPU `device`
 * (-1: the GPU the driver says owns the address) (a CUDA device pointer:
 * PyTorch's, CuPy's, cudaMalloc's), read in place
 * by a context on that GPU without a copy through the host. Element (i, j)
 * is at device_ptr + i * row_stride + j * col_stride elements: (cols, 1) is
 * C order, (1, rows) Fortran order, 0 and 0 mean C order; strides must be
 * >= 1. stream: a CUstream of the same context whose queued work writes the
 * data (the consumer's wait of __cuda_array_interface__ and DLPack), waited
 * for before each use, or NULL. Refused (GMMC_ERR_INVALID_ARGUMENT): a
 * context on the host backend or another GPU, an address the driver does
 * not know as device memory of that GPU, another dtype than float32 or
 * float64, bad shapes or strides. C-ordered data of the fit's dtype aligned
 * to 16 bytes is used where it lies; other layouts are gathered into the
 * fit's own buffer on the device. The kernels run in the data's dtype
 * (GMMC_DTYPE_AUTO picks it): device data is never converted. NaN and
 * infinity are not looked for on the host: the fit then fails with a
 * log-likelihood that is not finite. The memory must outlive the handle,
 * and the handle the context. */
gmmc_status gmmc_data_wrap_device(gmmc_context *ctx, const void *device_ptr, int device, gmmc_dtype dtype, int64_t rows,
                                  int64_t cols, int64_t row_stride, int64_t col_stride, void *stream, gmmc_data **out);
/* The GPU ordinal of device data, -1 for data in host memory (since 1.1). */
int gmmc_data_on_device(const gmmc_data *data);

/* ---- fit options (scikit-learn's GaussianMixture parameters) ---------------------- */
gmmc_status gmmc_fit_options_create(gmmc_fit_options **opts);
void gmmc_fit_options_destroy(gmmc_fit_options *opts);
/* The message of the last failed setter of these options. A refused
 * setting stands until that option is set successfully: until then gmmc_fit
 * and gmmc_model_create fail with GMMC_ERR_INVALID_ARGUMENT and the same
 * message in gmmc_last_error(ctx). */
const char *gmmc_fit_options_error(const gmmc_fit_options *opts);
gmmc_status gmmc_fit_options_set_n_components(gmmc_fit_options *opts, int n);
/* "full" (default), "diag", "spherical", "tied", or any shipped spec name. */
gmmc_status gmmc_fit_options_set_covariance_type(gmmc_fit_options *opts, const char *type);
/* A user's own spec: its text, and the name used in messages. */
gmmc_status gmmc_fit_options_set_spec(gmmc_fit_options *opts, const char *name, const char *text);
gmmc_status gmmc_fit_options_set_tol(gmmc_fit_options *opts, double tol);         /* 1e-3 */
gmmc_status gmmc_fit_options_set_reg_covar(gmmc_fit_options *opts, double reg);   /* 1e-6 */
gmmc_status gmmc_fit_options_set_max_iter(gmmc_fit_options *opts, int max_iter);  /* 100 */
gmmc_status gmmc_fit_options_set_n_init(gmmc_fit_options *opts, int n_init);      /* 1 */
gmmc_status gmmc_fit_options_set_init(gmmc_fit_options *opts, gmmc_init init);    /* kmeans */
gmmc_status gmmc_fit_options_set_seed(gmmc_fit_options *opts, uint64_t seed);     /* 0 */
gmmc_status gmmc_fit_options_set_dtype(gmmc_fit_options *opts, gmmc_dtype dtype); /* auto */
/* The arithmetic precision the GPU kernels may use (since 1.1): "float32"
 * (default: float32-accurate kernels only, the error-compensated 3xTF32
 * tensor-core ones included) or "tf32" (also one TF32 product where it is
 * faster: 10-bit mantissas, docs/limits.md gives the error); tf32 is for
 * float32 data on a GPU of compute capability 8.0 or later only, elsewhere
 * it changes nothing. "float64-stats" (since 1.3; float32 data, any
 * backend): every sum over events formed from float64 terms by its simple
 * kernel, so that covariances are as positive definite as in a float64 fit
 * (slower M-steps); a float32 fit whose covariance fails to factor is
 * redone this way by itself (docs/limits.md, "Collapsed components in
 * float32"). "bf16" and anything else are refused (GMMC_ERR_INVALID_ARGUMENT). */
gmmc_status gmmc_fit_options_set_precision(gmmc_fit_options *opts, const char *precision);
/* A run-time scalar of the spec by name (reg_covar is one). */
gmmc_status gmmc_fit_options_set_scalar(gmmc_fit_options *opts, const char *name, double value);
/* Initial values of a parameter, by name, replacing what the initialisation
 * computed: "weights", "means", "precisions_cholesky", or "precisions"
 * (precision matrices, as scikit-learn's precisions_init, converted to
 * precisions_cholesky), or any other parameter of the spec. count must match
 * the parameter's size. They are written before the initialisation's M-step
 * too, so that a statement keeping a parameter's value keeps these. */
gmmc_status gmmc_fit_options_set_init_param(gmmc_fit_options *opts, const char *name, const double *values,
                                            size_t count);
/* Progress: called after every EM iteration. */
typedef void (*gmmc_progress_fn)(void *user, int init, int iter, double lower_bound, double change, double seconds);
gmmc_status gmmc_fit_options_set_progress(gmmc_fit_options *opts, gmmc_progress_fn fn, void *user);
/* Starting parameters from a model (scikit-learn's warm_start). */
gmmc_status gmmc_fit_options_set_warm_start(gmmc_fit_options *opts, const gmmc_model *model);
/* Events per chunk when the events are streamed through the device (the
 * E-step and M-step run chunk by chunk; the result is the in-memory one up
 * to float64 rounding). 0 (default): $GMMC_CHUNK_EVENTS when set, else what
 * fits in the device's memory (no limit on the host backend). */
gmmc_status gmmc_fit_options_set_chunk_events(gmmc_fit_options *opts, int64_t events);
/* Per-event weights (scikit-learn's sample_weight): count values, one per
 * row of the data given to gmmc_fit (with MPI: of this process's rows),
 * finite and >= 0, not all 0. The options keep a copy. An event of weight k
 * counts as k copies of it: the statistics, the objective and every
 * initialisation are weighted, and lower_bound is the weighted
 * log-likelihood per unit of weight (docs/api.md, "Sample weights").
 * weights NULL with count 0 clears them. Refused (GMMC_ERR_INVALID_ARGUMENT,
 * the message naming the first bad value's index) otherwise; gmmc_fit fails
 * when count is not the data's row count or the spec declares no optional
 * data to receive them. */
gmmc_status gmmc_fit_options_set_sample_weight(gmmc_fit_options *opts, const double *weights, size_t count);

/* ---- fit ------------------------------------------------------------------------------- */
gmmc_status gmmc_fit(gmmc_context *ctx, const gmmc_data *data, const gmmc_fit_options *opts, gmmc_model **out);

/* ---- many fits at once (since 1.2) -----------------------------------------------------
 * count independent fits, each with its own events (data[i]) and options
 * (opts[i]: n_components, spec, scalars, seed, sample weights, n_init, ...;
 * the same pointer may be passed for several fits), their EM iterations
 * run side by side, each fit stopping on its own (converged, max_iter, or
 * failed). Each fit is the model gmmc_fit would train with those arguments
 * (bit for bit on the host backend). On success models[i] is the fit's
 * model (free each with gmmc_model_free) and statuses[i] GMMC_OK; a fit
 * that fails has models[i] NULL, statuses[i] its error and its message in
 * gmmc_fit_many_error(ctx, i), and does not stop the others. Returns
 * GMMC_OK when every fit succeeded, else the first failed fit's status with
 * gmmc_last_error naming how many failed. Bad arguments (count < 1, a NULL
 * array or element, a context of several MPI processes) fail at once with
 * GMMC_ERR_INVALID_ARGUMENT in every statuses[i] (where statuses is given)
 * and nothing run. See docs/api.md, "Many fits at once". */
gmmc_status gmmc_fit_many(gmmc_context *ctx, int count, const gmmc_data *const *data,
                          const gmmc_fit_options *const *opts, gmmc_model **models, gmmc_status *statuses);
/* The message of fit i of the last gmmc_fit_many on ctx, NULL when it
 * succeeded (or i is out of range) (since 1.2). */
const char *gmmc_fit_many_error(const gmmc_context *ctx, int i);

/* ---- partial fit: stepwise EM over batches (since 1.1) --------------------------------
 * A handle that trains one model from batches of events that arrive one at
 * a time (scikit-learn's partial_fit): each step E-steps its batch, blends
 * the batch's statistics per unit of weight into running statistics
 *   s_k = (1 - eta_k) s_{k-1} + eta_k s_batch,   eta_k = (k + t0)^-alpha, eta_1 = 1
 * (Cappé and Moulines' online EM; alpha = 0.6 and t0 = 2 by default), and
 * runs the spec's M-step on them. The statistics are kept in float64
 * between calls. The handle copies the options (n_components, spec, scalars,
 * init, seed, dtype, chunk_events; not warm_start or sample_weight) and uses
 * ctx, which must outlive it. Without a starting model the first batch
 * initialises it (the options' init method on that batch), then makes the
 * first step. Every batch has the first one's columns and dtype. See
 * docs/api.md, "Partial fit". */
typedef struct gmmc_online gmmc_online;
/* start: the parameters to begin from (a copy is taken; NULL: initialise
 * from the first batch); it must be of the options' spec and n_components. */
gmmc_status gmmc_online_create(gmmc_context *ctx, const gmmc_fit_options *opts, const gmmc_model *start,
                               gmmc_online **out);
void gmmc_online_destroy(gmmc_online *online);
/* The step sizes eta_k = (k + t0)^-alpha: 0 < alpha <= 1 (Cappé and
 * Moulines: 0.5 < alpha <= 1 for convergence), t0 >= 0; alpha = 1, t0 = 0
 * weighs every batch alike. Clears a constant step size. */
gmmc_status gmmc_online_set_schedule(gmmc_online *online, double alpha, double t0);
/* A constant step size in (0, 1] instead of the schedule (0: the schedule).
 * The first step always has size 1. */
gmmc_status gmmc_online_set_step_size(gmmc_online *online, double step);
/* Batches per step (default 1): the statistics of that many batches add up
 * at the same parameters, and the M-step runs after the last of them. */
gmmc_status gmmc_online_set_batches_per_step(gmmc_online *online, int64_t batches);
/* One batch; sample_weight as gmmc_fit_options_set_sample_weight's (NULL
 * with count 0: none). Errors leave the handle as it was. */
gmmc_status gmmc_online_partial_fit(gmmc_online *online, const gmmc_data *batch, const double *sample_weight,
                                    size_t count);
/* Steps made so far. */
int64_t gmmc_online_steps(const gmmc_online *online);
/* A copy of the current model (destroy it with gmmc_model_destroy): its
 * lower bound is the last step's log-likelihood per unit of weight, at the
 * parameters its batches were E-stepped with; n_iter the steps made;
 * converged 0. Fails before the first step. */
gmmc_status gmmc_online_model(const gmmc_online *online, gmmc_model **out);

/* ---- models ---------------------------------------------------------------------------- */
void gmmc_model_destroy(gmmc_model *model);
gmmc_status gmmc_model_save(gmmc_context *ctx, const gmmc_model *model, const char *path);
gmmc_status gmmc_model_load(gmmc_context *ctx, const char *path, gmmc_model **out);
const char *gmmc_model_spec_name(const gmmc_model *model); /* "gmm_full" */
int gmmc_model_n_components(const gmmc_model *model);
int gmmc_model_n_features(const gmmc_model *model);
int gmmc_model_converged(const gmmc_model *model);
int gmmc_model_n_iter(const gmmc_model *model);
double gmmc_model_lower_bound(const gmmc_model *model);
/* Per-iteration lower bounds of the best initialisation. */
const double *gmmc_model_lower_bounds(const gmmc_model *model, int *count);
/* Parameter names, in spec order; count in *n. */
const char *const *gmmc_model_param_names(const gmmc_model *model, int *n);
/* A parameter's values (float64, row-major) and shape; NULL if unknown. */
const double *gmmc_model_param(const gmmc_model *model, const char *name, int *rank, const int64_t **shape);
/* Number of free parameters (for bic and aic). */
double gmmc_model_n_parameters(const gmmc_model *model);

/* ---- inference --------------------------------------------------------------------------
 * Each output array comes with the number of elements it holds (labels_len,
 * ...). One shorter than the call would write fails with
 * GMMC_ERR_INVALID_ARGUMENT before anything is written; a longer one is
 * fine (only the needed part is written). */
gmmc_status gmmc_predict(gmmc_context *ctx, const gmmc_model *model, const gmmc_data *data, int32_t *labels /* rows */,
                         int64_t labels_len);
gmmc_status gmmc_predict_proba(gmmc_context *ctx, const gmmc_model *model, const gmmc_data *data,
                               double *proba /* rows x n_components */, int64_t proba_len);
gmmc_status gmmc_score_samples(gmmc_context *ctx, const gmmc_model *model, const gmmc_data *data,
                               double *log_prob /* rows */, int64_t log_prob_len);
/* Mean per-event log-likelihood. */
gmmc_status gmmc_score(gmmc_context *ctx, const gmmc_model *model, const gmmc_data *data, double *score);
gmmc_status gmmc_bic(gmmc_context *ctx, const gmmc_model *model, const gmmc_data *data, double *bic);
gmmc_status gmmc_aic(gmmc_context *ctx, const gmmc_model *model, const gmmc_data *data, double *aic);
/* n events drawn from a Gaussian mixture model, grouped by component as
 * scikit-learn does; labels may be NULL (with labels_len 0). */
gmmc_status gmmc_sample(gmmc_context *ctx, const gmmc_model *model, int64_t n, uint64_t seed,
                        double *X /* n x n_features */, int64_t X_len, int32_t *labels /* n */, int64_t labels_len);

/* ---- used by the Python package ----------------------------------------------------------
 * Models built from arrays, for scikit-learn's habit of keeping fitted
 * parameters as attributes that users may assign (runtime/api/model_io_api.c). */
/* The model gmmc_fit would train with these options on data of n_features
 * columns (same spec, sizes, scalars, n_parameters; dtype: the options', else
 * float32 on the GPU and float64 on the host), before any training: every
 * parameter zero, converged 0, n_iter 0, lower bound -inf. Fill it with
 * gmmc_model_set_param; it then predicts, scores, samples and saves like a
 * trained model. */
gmmc_status gmmc_model_create(gmmc_context *ctx, const gmmc_fit_options *opts, int n_features, gmmc_model **out);
/* Replaces the values (float64, row-major) of the parameter called name;
 * count must be the product of its shape and every value finite. */
gmmc_status gmmc_model_set_param(gmmc_context *ctx, gmmc_model *model, const char *name, const double *values,
                                 size_t count);

#ifdef __cplusplus
}
#endif
#endif
