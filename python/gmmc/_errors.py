"""Python exceptions for gmmc's status codes.

A scikit-learn program catches ValueError for bad input and bad parameters, so
those statuses become ValueError subclasses; the others map onto the closest
builtin (MemoryError, OSError, RuntimeError). Every exception also derives from
GmmcError, which carries the status, for code that wants gmmc's own detail.
"""
from . import _capi


class GmmcError(Exception):
    """An error reported by libgmmc; ``status`` is the gmmc_status name."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class GmmcValueError(GmmcError, ValueError):
    """Bad arguments, data or parameters (GMMC_ERR_INVALID_ARGUMENT, _DATA, _NUMERIC)."""


class SpecError(GmmcValueError):
    """The model spec has an error; the message names file:line:col (GMMC_ERR_SPEC)."""


class DeviceError(GmmcError, RuntimeError):
    """The GPU failed or is missing (GMMC_ERR_DEVICE, GMMC_ERR_NO_DEVICE)."""


class CompileError(GmmcError, RuntimeError):
    """Code generation failed (GMMC_ERR_COMPILE) or an internal error (GMMC_ERR_INTERNAL)."""


class GmmcIOError(GmmcError, OSError):
    """A file could not be read or written (GMMC_ERR_IO)."""


class GmmcMemoryError(GmmcError, MemoryError):
    """Out of memory, on the host or the GPU (GMMC_ERR_OUT_OF_MEMORY)."""


_BY_STATUS = {
    _capi.ERR_INVALID_ARGUMENT: GmmcValueError,
    _capi.ERR_SPEC: SpecError,
    _capi.ERR_COMPILE: CompileError,
    _capi.ERR_IO: GmmcIOError,
    _capi.ERR_DATA: GmmcValueError,
    _capi.ERR_NUMERIC: GmmcValueError,
    _capi.ERR_DEVICE: DeviceError,
    _capi.ERR_NO_DEVICE: DeviceError,
    _capi.ERR_OUT_OF_MEMORY: GmmcMemoryError,
    _capi.ERR_INTERNAL: CompileError,
}


def error_for(status, message):
    """The exception to raise for a failed call."""
    cls = _BY_STATUS.get(status, GmmcError)
    return cls(message or _capi.STATUS_NAMES.get(status, f"gmmc status {status}"),
               _capi.STATUS_NAMES.get(status, str(status)))
