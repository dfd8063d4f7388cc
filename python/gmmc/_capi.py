"""ctypes prototypes of the public C API (include/gmmc/gmmc.h), and nothing else.

Declaring argtypes/restype for every call keeps ctypes from guessing (it would
pass Python ints as C int and truncate 64-bit pointers and sizes). The
declarations follow gmmc.h one to one; functions of the section "used by the
Python package" are optional so that an older libgmmc still loads.
"""
import ctypes
from ctypes import POINTER, c_char_p, c_double, c_int, c_int32, c_int64, c_size_t, c_uint64, c_void_p

# gmmc_status
OK = 0
STATUS_NAMES = {
    0: "GMMC_OK", 1: "GMMC_ERR_INVALID_ARGUMENT", 2: "GMMC_ERR_SPEC", 3: "GMMC_ERR_COMPILE", 4: "GMMC_ERR_IO",
    5: "GMMC_ERR_DATA", 6: "GMMC_ERR_NUMERIC", 7: "GMMC_ERR_DEVICE", 8: "GMMC_ERR_NO_DEVICE",
    9: "GMMC_ERR_OUT_OF_MEMORY", 10: "GMMC_ERR_INTERNAL",
}
ERR_INVALID_ARGUMENT, ERR_SPEC, ERR_COMPILE, ERR_IO, ERR_DATA = 1, 2, 3, 4, 5
ERR_NUMERIC, ERR_DEVICE, ERR_NO_DEVICE, ERR_OUT_OF_MEMORY, ERR_INTERNAL = 6, 7, 8, 9, 10

# gmmc_backend, gmmc_dtype, gmmc_init
BACKEND_AUTO, BACKEND_HOST, BACKEND_CUDA = 0, 1, 2
DTYPE_AUTO, FLOAT32, FLOAT64 = 0, 1, 2
INIT = {"kmeans": 0, "k-means++": 1, "random": 2, "random_from_data": 3}

# callbacks: gmmc_message_fn and gmmc_progress_fn
MESSAGE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)
PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_int, c_double, c_double, c_double)

_ctx = c_void_p
_data = c_void_p
_opts = c_void_p
_model = c_void_p
_status = c_int

# name: (restype, argtypes)
REQUIRED = {
    "gmmc_version": (c_char_p, []),
    "gmmc_status_name": (c_char_p, [c_int]),
    # context
    "gmmc_context_create": (_status, [POINTER(c_void_p), c_int]),
    "gmmc_context_destroy": (None, [_ctx]),
    "gmmc_last_error": (c_char_p, [_ctx]),
    "gmmc_context_backend": (c_int, [_ctx]),
    "gmmc_context_device": (c_char_p, [_ctx]),
    "gmmc_context_note": (c_char_p, [_ctx]),
    "gmmc_context_set_threads": (_status, [_ctx, c_int]),
    "gmmc_context_set_cache_dir": (_status, [_ctx, c_char_p]),
    "gmmc_context_compile_stats": (None, [_ctx, POINTER(c_int), POINTER(c_int), POINTER(c_double)]),
    "gmmc_context_set_warning_handler": (None, [_ctx, MESSAGE_FN, c_void_p]),
    # data
    "gmmc_data_wrap": (_status, [_ctx, c_void_p, c_int, c_int64, c_int64, POINTER(c_void_p)]),
    "gmmc_data_destroy": (None, [_data]),
    # fit options
    "gmmc_fit_options_create": (_status, [POINTER(c_void_p)]),
    "gmmc_fit_options_destroy": (None, [_opts]),
    "gmmc_fit_options_error": (c_char_p, [_opts]),
    "gmmc_fit_options_set_n_components": (_status, [_opts, c_int]),
    "gmmc_fit_options_set_covariance_type": (_status, [_opts, c_char_p]),
    "gmmc_fit_options_set_spec": (_status, [_opts, c_char_p, c_char_p]),
    "gmmc_fit_options_set_tol": (_status, [_opts, c_double]),
    "gmmc_fit_options_set_reg_covar": (_status, [_opts, c_double]),
    "gmmc_fit_options_set_max_iter": (_status, [_opts, c_int]),
    "gmmc_fit_options_set_n_init": (_status, [_opts, c_int]),
    "gmmc_fit_options_set_init": (_status, [_opts, c_int]),
    "gmmc_fit_options_set_seed": (_status, [_opts, c_uint64]),
    "gmmc_fit_options_set_dtype": (_status, [_opts, c_int]),
    "gmmc_fit_options_set_precision": (_status, [_opts, c_char_p]),
    "gmmc_fit_options_set_scalar": (_status, [_opts, c_char_p, c_double]),
    "gmmc_fit_options_set_init_param": (_status, [_opts, c_char_p, POINTER(c_double), c_size_t]),
    "gmmc_fit_options_set_progress": (_status, [_opts, PROGRESS_FN, c_void_p]),
    "gmmc_fit_options_set_warm_start": (_status, [_opts, _model]),
    "gmmc_fit_options_set_sample_weight": (_status, [_opts, POINTER(c_double), c_size_t]),
    # fit
    "gmmc_fit": (_status, [_ctx, _data, _opts, POINTER(c_void_p)]),
    # models
    "gmmc_model_destroy": (None, [_model]),
    "gmmc_model_save": (_status, [_ctx, _model, c_char_p]),
    "gmmc_model_load": (_status, [_ctx, c_char_p, POINTER(c_void_p)]),
    "gmmc_model_spec_name": (c_char_p, [_model]),
    "gmmc_model_n_components": (c_int, [_model]),
    "gmmc_model_n_features": (c_int, [_model]),
    "gmmc_model_converged": (c_int, [_model]),
    "gmmc_model_n_iter": (c_int, [_model]),
    "gmmc_model_lower_bound": (c_double, [_model]),
    "gmmc_model_lower_bounds": (POINTER(c_double), [_model, POINTER(c_int)]),
    "gmmc_model_param_names": (POINTER(c_char_p), [_model, POINTER(c_int)]),
    "gmmc_model_param": (POINTER(c_double), [_model, c_char_p, POINTER(c_int), POINTER(POINTER(c_int64))]),
    "gmmc_model_n_parameters": (c_double, [_model]),
    # inference
    # each output array is followed by the number of elements it holds
    "gmmc_predict": (_status, [_ctx, _model, _data, POINTER(c_int32), c_int64]),
    "gmmc_predict_proba": (_status, [_ctx, _model, _data, POINTER(c_double), c_int64]),
    "gmmc_score_samples": (_status, [_ctx, _model, _data, POINTER(c_double), c_int64]),
    "gmmc_score": (_status, [_ctx, _model, _data, POINTER(c_double)]),
    "gmmc_bic": (_status, [_ctx, _model, _data, POINTER(c_double)]),
    "gmmc_aic": (_status, [_ctx, _model, _data, POINTER(c_double)]),
    "gmmc_sample": (_status, [_ctx, _model, c_int64, c_uint64, POINTER(c_double), c_int64, POINTER(c_int32),
                              c_int64]),
}

# ---- used by the Python package ---- (runtime/api/model_io_api.c)
OPTIONAL = {
    "gmmc_model_create": (_status, [_ctx, _opts, c_int, POINTER(c_void_p)]),
    "gmmc_model_set_param": (_status, [_ctx, _model, c_char_p, POINTER(c_double), c_size_t]),
    # partial fit (libgmmc 1.1)
    "gmmc_online_create": (_status, [_ctx, _opts, _model, POINTER(c_void_p)]),
    "gmmc_online_destroy": (None, [c_void_p]),
    "gmmc_online_set_schedule": (_status, [c_void_p, c_double, c_double]),
    "gmmc_online_set_step_size": (_status, [c_void_p, c_double]),
    "gmmc_online_set_batches_per_step": (_status, [c_void_p, c_int64]),
    "gmmc_online_partial_fit": (_status, [c_void_p, _data, POINTER(c_double), c_size_t]),
    "gmmc_online_steps": (c_int64, [c_void_p]),
    "gmmc_online_model": (_status, [c_void_p, POINTER(c_void_p)]),
    # device data (libgmmc 1.1)
    "gmmc_data_wrap_device": (_status, [_ctx, c_void_p, c_int, c_int, c_int64, c_int64, c_int64, c_int64, c_void_p,
                                        POINTER(c_void_p)]),
    "gmmc_data_on_device": (c_int, [_data]),
    # many fits at once (libgmmc 1.2)
    "gmmc_fit_many": (_status, [_ctx, c_int, POINTER(c_void_p), POINTER(c_void_p), POINTER(c_void_p), POINTER(c_int)]),
    "gmmc_fit_many_error": (c_char_p, [_ctx, c_int]),
}


def declare(cdll):
    """Sets restype/argtypes of every gmmc_* call on a loaded library.

    Raises AttributeError when a required function is missing (not a libgmmc,
    or one too old for this package)."""
    for table, required in ((REQUIRED, True), (OPTIONAL, False)):
        for name, (restype, argtypes) in table.items():
            try:
                fn = getattr(cdll, name)
            except AttributeError:
                if required:
                    raise AttributeError(f"{name} is missing: not a libgmmc this package can use")
                continue
            fn.restype = restype
            fn.argtypes = argtypes
