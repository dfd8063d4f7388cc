"""NumPy arrays as gmmc_data handles, without copying.

gmmc_data_wrap reads the caller's memory in place; the array must stay alive
and unchanged while the handle exists, so a handle lives only for the duration
of one call (a ``with`` block) and keeps a reference to its array. The array
must already be what gmmc reads: 2-D, C-contiguous, aligned, native float32 or
float64 (``_validation.check_array`` makes it so, copying only when needed).
"""
import ctypes

import numpy as np

from . import _capi
from ._device import DeviceArray
from ._errors import GmmcError

_DTYPES = {np.dtype(np.float32): _capi.FLOAT32, np.dtype(np.float64): _capi.FLOAT64}


def gmmc_dtype(dtype):
    """The gmmc_dtype of a NumPy dtype (float32 or float64)."""
    return _DTYPES[np.dtype(dtype)]


class Data:
    """``with Data(ctx, X) as handle:`` — a gmmc_data over X's memory for the block.

    X may also be a ``_device.DeviceArray`` (GPU memory, gmmc_data_wrap_device)."""

    def __init__(self, ctx, X):
        if isinstance(X, DeviceArray):
            self.ctx, self.X, self.handle = ctx, X, None
            return
        if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.flags.c_contiguous and X.flags.aligned
                and X.dtype in _DTYPES and X.dtype.isnative):
            raise TypeError("internal: Data needs a C-contiguous native float32/float64 2-D array")
        self.ctx = ctx
        self.X = X
        self.handle = None

    def __enter__(self):
        h = ctypes.c_void_p()
        if isinstance(self.X, DeviceArray):
            X = self.X
            if not self.ctx.lib.has("gmmc_data_wrap_device"):
                raise GmmcError(f"this libgmmc ({self.ctx.lib.path}, {self.ctx.lib.version}) cannot read GPU "
                                "arrays in place: gmmc_data_wrap_device is missing (libgmmc >= 1.1 has it)")
            stream = None if X.stream is None else ctypes.c_void_p(int(X.stream))
            self.ctx.call("gmmc_data_wrap_device", ctypes.c_void_p(X.ptr), X.device, _DTYPES[X.dtype], X.shape[0],
                          X.shape[1], X.strides_elems[0], X.strides_elems[1], stream, ctypes.byref(h))
            self.handle = h
            return h
        # X.ctypes.data is the address of the first element; X itself is kept referenced by self
        self.ctx.call("gmmc_data_wrap", ctypes.c_void_p(self.X.ctypes.data), _DTYPES[self.X.dtype],
                      self.X.shape[0], self.X.shape[1], ctypes.byref(h))
        self.handle = h
        return h

    def __exit__(self, *exc):
        if self.handle is not None:
            self.ctx.lib.cdll.gmmc_data_destroy(self.handle)
            self.handle = None
        return False
