"""A gmmc context (backend, compiled-kernel cache, last error) as a Python object.

gmmc's contract is that a context is used by one thread at a time; Python code
may call an estimator from several threads (a web server predicting, joblib's
threading backend), so every call into the context goes through ``call()``,
which holds the context's lock, clears the warnings of the previous call and
turns a failed status into the matching exception with gmmc's message.
"""
import ctypes
import threading
import weakref

from . import _capi, _loader
from ._errors import error_for

DEVICES = {"auto": _capi.BACKEND_AUTO, "cpu": _capi.BACKEND_HOST, "cuda": _capi.BACKEND_CUDA}


def _text(b):
    return b.decode("utf-8", "replace") if b else ""


def _destroy(destroy, ptr, _keepalive):
    # _keepalive holds the warning callback until the context that may call it is gone
    destroy(ptr)


class Context:
    """Owns one gmmc_context; ``device`` is 'auto', 'cpu' or 'cuda'."""

    def __init__(self, device="auto"):
        self.lib = _loader.load()
        c = self.lib.cdll
        ptr = ctypes.c_void_p()
        status = c.gmmc_context_create(ctypes.byref(ptr), DEVICES[device])
        if status != _capi.OK:
            message = _text(c.gmmc_last_error(ptr))
            c.gmmc_context_destroy(ptr)
            raise error_for(status, message)
        self.ptr = ptr
        self.requested = device
        self._lock = threading.RLock()
        # warnings of the call in progress; the callback appends to this list, not to self,
        # so that the context is freed by reference counting alone
        self._warnings = warnings = []
        self._on_warning = _capi.MESSAGE_FN(lambda user, message: warnings.append(_text(message)))
        c.gmmc_context_set_warning_handler(ptr, self._on_warning, None)
        self._finalizer = weakref.finalize(self, _destroy, c.gmmc_context_destroy, ptr, self._on_warning)

    @property
    def device(self):
        """What gmmc runs on, e.g. 'NVIDIA H100 80GB HBM3 (sm_90)' or 'host: 16 threads, ...'."""
        return _text(self.lib.cdll.gmmc_context_device(self.ptr))

    @property
    def note(self):
        """Why 'auto' chose the host (e.g. no CUDA driver), or None."""
        n = self.lib.cdll.gmmc_context_note(self.ptr)
        return _text(n) if n else None

    @property
    def is_gpu(self):
        return self.lib.cdll.gmmc_context_backend(self.ptr) == _capi.BACKEND_CUDA

    def compile_stats(self):
        """(specializations compiled, loaded from the disk cache, milliseconds spent on both)."""
        compiled, cached, ms = ctypes.c_int(), ctypes.c_int(), ctypes.c_double()
        self.lib.cdll.gmmc_context_compile_stats(self.ptr, ctypes.byref(compiled), ctypes.byref(cached),
                                                 ctypes.byref(ms))
        return compiled.value, cached.value, ms.value

    def call(self, name, *args):
        """Calls gmmc function ``name`` with this context first; returns the warnings it reported.

        Raises the exception matching a failed status, with gmmc_last_error's message."""
        fn = getattr(self.lib.cdll, name)
        with self._lock:
            del self._warnings[:]
            status = fn(self.ptr, *args)
            if status != _capi.OK:
                raise error_for(status, _text(self.lib.cdll.gmmc_last_error(self.ptr)))
            out = list(self._warnings)
            del self._warnings[:]
            return out

    def close(self):
        self._finalizer()
