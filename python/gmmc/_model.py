"""A gmmc model (trained or built from arrays) as a Python object.

Parameters are read out as float64 NumPy copies, so that the estimator's
attributes are ordinary arrays a user may keep, change or assign, as with
scikit-learn. Writing them back (set_param) and building a model without
training (create) use the two calls of gmmc.h's section "used by the Python
package". Models are plain memory, independent of any context: a context is
needed only to report errors.

YAML text: pickling goes through the model file format (docs/model-file.md),
written and read by libgmmc itself through a temporary file; floats round-trip
bit for bit, so an unpickled model predicts exactly as the original.
"""
import ctypes
import os
import tempfile
import weakref

import numpy as np

from . import _loader
from ._context import Context
from ._errors import GmmcError


def _text(b):
    return b.decode("utf-8", "replace") if b else ""


class Model:
    """Owns one gmmc_model."""

    def __init__(self, ptr):
        self.lib = _loader.load()
        self.ptr = ptr
        self._finalizer = weakref.finalize(self, self.lib.cdll.gmmc_model_destroy, ptr)

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def create(cls, ctx, options, n_features):
        """The untrained model gmmc_fit would train with these options (parameters zero)."""
        if not ctx.lib.has("gmmc_model_create"):
            raise GmmcError(f"this libgmmc ({ctx.lib.path}, {ctx.lib.version}) cannot build models from "
                            "arrays: gmmc_model_create is missing; rebuild libgmmc")
        ptr = ctypes.c_void_p()
        ctx.call("gmmc_model_create", options.ptr, int(n_features), ctypes.byref(ptr))
        return cls(ptr)

    @classmethod
    def from_yaml(cls, text):
        """A model from the text of a model file."""
        io = Context("cpu")
        with tempfile.TemporaryDirectory(prefix="gmmc-") as d:
            path = os.path.join(d, "model.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            ptr = ctypes.c_void_p()
            io.call("gmmc_model_load", path.encode(), ctypes.byref(ptr))
        return cls(ptr)

    def to_yaml(self):
        """The model file text of this model."""
        io = Context("cpu")
        with tempfile.TemporaryDirectory(prefix="gmmc-") as d:
            path = os.path.join(d, "model.yaml")
            io.call("gmmc_model_save", self.ptr, path.encode())
            with open(path, encoding="utf-8") as f:
                return f.read()

    # ---- parameters ----------------------------------------------------------------------------
    def param_names(self):
        n = ctypes.c_int()
        names = self.lib.cdll.gmmc_model_param_names(self.ptr, ctypes.byref(n))
        return [_text(names[i]) for i in range(n.value)]

    def param_shape(self, name):
        rank, shape = ctypes.c_int(), ctypes.POINTER(ctypes.c_int64)()
        values = self.lib.cdll.gmmc_model_param(self.ptr, name.encode(), ctypes.byref(rank), ctypes.byref(shape))
        if not values:
            return None
        return tuple(int(shape[i]) for i in range(rank.value))

    def param(self, name):
        """A float64 copy of a parameter, in its shape; None if the model has no such parameter."""
        rank, shape = ctypes.c_int(), ctypes.POINTER(ctypes.c_int64)()
        values = self.lib.cdll.gmmc_model_param(self.ptr, name.encode(), ctypes.byref(rank), ctypes.byref(shape))
        if not values:
            return None
        dims = tuple(int(shape[i]) for i in range(rank.value))
        count = int(np.prod(dims, dtype=np.int64))
        if count == 0:
            return np.zeros(dims)
        return np.ctypeslib.as_array(values, shape=(count,)).copy().reshape(dims)

    def set_param(self, ctx, name, values):
        v = np.ascontiguousarray(values, dtype=np.float64)
        ctx.call("gmmc_model_set_param", self.ptr, name.encode(),
                 v.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), v.size)

    # ---- fit outcome and sizes --------------------------------------------------------------------
    @property
    def spec_name(self):
        return _text(self.lib.cdll.gmmc_model_spec_name(self.ptr))

    @property
    def n_components(self):
        return int(self.lib.cdll.gmmc_model_n_components(self.ptr))

    @property
    def n_features(self):
        return int(self.lib.cdll.gmmc_model_n_features(self.ptr))

    @property
    def converged(self):
        return bool(self.lib.cdll.gmmc_model_converged(self.ptr))

    @property
    def n_iter(self):
        return int(self.lib.cdll.gmmc_model_n_iter(self.ptr))

    @property
    def lower_bound(self):
        return float(self.lib.cdll.gmmc_model_lower_bound(self.ptr))

    @property
    def lower_bounds(self):
        n = ctypes.c_int()
        p = self.lib.cdll.gmmc_model_lower_bounds(self.ptr, ctypes.byref(n))
        return np.array([p[i] for i in range(n.value)], dtype=np.float64)

    @property
    def n_parameters(self):
        return float(self.lib.cdll.gmmc_model_n_parameters(self.ptr))
