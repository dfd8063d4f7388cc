"""Arrays already in GPU memory (PyTorch, CuPy, JAX, Numba), read in place.

An object exposing ``__cuda_array_interface__`` (PyTorch and CuPy CUDA
arrays, Numba) or ``__dlpack__`` with ``__dlpack_device__`` on a CUDA
device (JAX, and the others again) becomes a ``DeviceArray``: its address,
GPU, shape, dtype, strides and stream, handed to libgmmc's
``gmmc_data_wrap_device`` (1.1), which reads it where it lies -- no copy
through host memory. float32 or float64, 2-D, any positive strides (C and
Fortran order included); anything else is refused here with what to do.
The estimator's results come back as NumPy arrays (or in the input's
namespace under scikit-learn's ``array_api_dispatch``).

The interface's stream (``stream`` of ``__cuda_array_interface__`` v3; the
legacy default stream for an interface without the key -- PyTorch's,
version 2 -- and for DLPack, whose producer orders its work before it) is
waited for by libgmmc before each use of the data.
"""
import ctypes

import numpy as np

KDL_CUDA, KDL_CUDA_MANAGED = 2, 13
KDL_FLOAT = 2
CU_STREAM_LEGACY = 1


class DeviceArray:
    """A 2-D float32/float64 array in the memory of GPU ``device`` (what gmmc_data_wrap_device takes)."""

    def __init__(self, owner, ptr, shape, dtype, strides, device, stream, keep=()):
        self.owner = owner  # the user's object: its memory must outlive every call
        self.ptr = int(ptr)
        self.shape = tuple(int(s) for s in shape)
        self.ndim = 2
        self.dtype = np.dtype(dtype)
        self.strides_elems = strides  # (row, column) in elements
        self.device = int(device)  # -1: the GPU that owns the address (the driver says)
        self.stream = stream
        self._keep = keep  # a DLPack capsule: its deleter runs when this is gone

    @property
    def size(self):
        return self.shape[0] * self.shape[1]

    def __len__(self):
        return self.shape[0]


def _dtype(typestr, where):
    dt = np.dtype(typestr)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)) or not dt.isnative:
        raise TypeError(f"gmmc reads device arrays of float32 or float64, got {dt} ({where}); convert it on the "
                        "device first (e.g. x.float() in PyTorch, x.astype(cupy.float32) in CuPy)")
    return dt


def _shape(shape):
    if len(shape) == 1:
        raise ValueError("Expected 2D array, got 1D array instead: reshape your data either using "
                         "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) if it "
                         "contains a single sample.")
    if len(shape) != 2:
        raise ValueError(f"Found array with dim {len(shape)}. Estimator expected <= 2.")
    return shape


def _strides(strides, shape, itemsize, where):
    """(row, column) strides in elements, C order for None; refuses what gmmc cannot read."""
    if strides is None:
        return (shape[1], 1)
    out = []
    for s in strides:
        if s % itemsize:
            raise ValueError(f"{where}: strides {tuple(strides)} are not multiples of the element size "
                             f"{itemsize}")
        out.append(s // itemsize)
    rows, cols = shape
    if (rows > 1 and out[0] < 1) or (cols > 1 and out[1] < 1):
        raise ValueError(f"{where}: strides {tuple(out)} elements: gmmc reads arrays whose strides are >= 1 "
                         "(broadcast, expanded and reversed views are refused; .contiguous() makes a copy on the "
                         "device)")
    return (max(out[0], 1), max(out[1], 1))


def _from_cai(X):
    ci = X.__cuda_array_interface__
    where = "__cuda_array_interface__"
    if ci.get("mask") is not None:
        raise ValueError(f"{where}: masked arrays are not supported")
    shape = _shape(tuple(ci["shape"]))
    dt = _dtype(ci["typestr"], where)
    strides = _strides(ci.get("strides"), shape, dt.itemsize, where)
    ptr = ci["data"][0] or 0
    # v3's stream (None: nothing to wait for); without the key (version 2, PyTorch's) the legacy default
    # stream, where such producers queue their work unless told otherwise
    stream = ci["stream"] if "stream" in ci else CU_STREAM_LEGACY
    device = -1
    dev = getattr(X, "device", None)  # torch.device('cuda', 0), cupy.cuda.Device(0)
    for attr in ("index", "id"):
        if isinstance(getattr(dev, attr, None), int):
            device = getattr(dev, attr)
            break
    return DeviceArray(X, ptr, shape, dt, strides, device, stream)


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


def _from_dlpack(X, device_id):
    where = "__dlpack__"
    try:
        capsule = X.__dlpack__(stream=CU_STREAM_LEGACY)
    except TypeError:  # a producer without the stream argument (older DLPack)
        capsule = X.__dlpack__()
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    t = _DLTensor.from_address(get(capsule, b"dltensor"))  # DLManagedTensor starts with its DLTensor
    shape = _shape(tuple(t.shape[i] for i in range(t.ndim)))
    if t.dtype.code != KDL_FLOAT or t.dtype.lanes != 1 or t.dtype.bits not in (32, 64):
        raise TypeError(f"gmmc reads device arrays of float32 or float64, got DLPack type code {t.dtype.code}, "
                        f"{t.dtype.bits} bits, {t.dtype.lanes} lanes ({where}); convert it on the device first")
    dt = np.dtype(np.float32 if t.dtype.bits == 32 else np.float64)
    strides = None if not t.strides else tuple(t.strides[i] * dt.itemsize for i in range(t.ndim))
    strides = _strides(strides, shape, dt.itemsize, where)
    return DeviceArray(X, (t.data or 0) + t.byte_offset, shape, dt, strides, device_id, CU_STREAM_LEGACY,
                       keep=(capsule,))


def wrap(X):
    """A DeviceArray for an array in CUDA memory; None for anything else (NumPy, lists, host tensors)."""
    if isinstance(X, (np.ndarray, np.generic, list, tuple, DeviceArray)) or X is None:
        return X if isinstance(X, DeviceArray) else None
    if hasattr(type(X), "__cuda_array_interface__") or hasattr(X, "__cuda_array_interface__"):
        try:
            return _from_cai(X)
        except AttributeError:  # a CPU tensor whose class has the property (PyTorch raises then)
            pass
    if hasattr(X, "__dlpack__") and hasattr(X, "__dlpack_device__"):
        kind, device_id = X.__dlpack_device__()
        if int(kind) in (KDL_CUDA, KDL_CUDA_MANAGED):
            return _from_dlpack(X, int(device_id))
    return None


def to_host(a):
    """A small array (sample weights, initial parameters) on the host, from the GPU if it is there."""
    if a is None or isinstance(a, (np.ndarray, np.generic, list, tuple, int, float)):
        return a
    if hasattr(a, "__cuda_array_interface__") or (hasattr(a, "__dlpack_device__")
                                                 and int(a.__dlpack_device__()[0]) in (KDL_CUDA, KDL_CUDA_MANAGED)):
        for method in ("cpu", "get"):  # PyTorch, CuPy
            if hasattr(a, method):
                a = getattr(a, method)()
                break
    return np.asarray(a)


def check(d, owner, ensure_min_samples=1):
    """scikit-learn's check_array's sample count and emptiness, for a DeviceArray (its values stay on the GPU)."""
    n, f = d.shape
    if n < ensure_min_samples:
        raise ValueError(f"Found array with {n} sample(s) (shape={d.shape}) while a minimum of "
                         f"{ensure_min_samples} is required by {owner}.")
    if f < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={d.shape}) while a minimum of 1 is required by "
                         f"{owner}.")
    return d
