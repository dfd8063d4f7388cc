"""Finding and loading libgmmc.so.

The package is pure Python over the C library, so the first thing it needs is
the right libgmmc. The search order puts the most explicit choice first:

1. ``GMMC_LIBRARY`` in the environment: the path of the library to use. If it
   is set and cannot be loaded, that is an error (no silent fallback to some
   other copy: the user asked for this one).
2. A copy installed inside the package, ``gmmc/_lib/libgmmc.so*`` (what
   ``pip install`` puts there).
3. The build tree of the checkout the package sits in: ``build/libgmmc.so``,
   then the other ``build*/libgmmc.so`` in name order (``python/gmmc`` lives in
   the repository, two levels below its root).
4. The system's loader (``ctypes.util.find_library("gmmc")``), e.g. after
   ``cmake --install``.

The loaded library is cached: it is the only global state of the package.
"""
import ctypes
import ctypes.util
import glob
import os
import threading

from . import _capi

_lock = threading.Lock()
_cached = None


class Library:
    """The loaded libgmmc: the ctypes handle, where it came from, and its version."""

    def __init__(self, cdll, path, origin):
        self.cdll = cdll
        self.path = path
        self.origin = origin
        self.version = cdll.gmmc_version().decode()

    def has(self, name):
        """Whether this libgmmc exports a function (newer calls may be missing in older builds)."""
        return hasattr(self.cdll, name)

    def __repr__(self):
        return f"<libgmmc {self.version} from {self.path} ({self.origin})>"


def _package_dir():
    return os.path.dirname(os.path.abspath(__file__))


def candidates():
    """(path, origin) pairs in search order, the system loader's last; paths may not exist."""
    out = []
    env = os.environ.get("GMMC_LIBRARY")
    if env:
        out.append((env, "GMMC_LIBRARY"))
        return out
    installed = sorted(glob.glob(os.path.join(_package_dir(), "_lib", "libgmmc.so*")), key=len)
    out.extend((p, "installed with the package") for p in installed)
    repo = os.path.dirname(os.path.dirname(_package_dir()))
    if os.path.isfile(os.path.join(repo, "CMakeLists.txt")):
        trees = sorted(glob.glob(os.path.join(repo, "build*", "libgmmc.so")))
        trees.sort(key=lambda p: os.path.basename(os.path.dirname(p)) != "build")
        out.extend((p, "build tree of the checkout") for p in trees)
    found = ctypes.util.find_library("gmmc")
    if found:
        out.append((found, "system library path"))
    return out


def load():
    """The libgmmc this process uses (loaded once, then cached)."""
    global _cached
    if _cached is not None:
        return _cached
    with _lock:
        if _cached is not None:
            return _cached
        tried = []
        for path, origin in candidates():
            try:
                cdll = ctypes.CDLL(path)
                _capi.declare(cdll)
            except (OSError, AttributeError) as e:
                if origin == "GMMC_LIBRARY":
                    raise ImportError(f"gmmc: GMMC_LIBRARY={path} cannot be loaded: {e}") from e
                tried.append(f"  {path} ({origin}): {e}")
                continue
            _cached = Library(cdll, path, origin)
            return _cached
        where = "\n".join(tried) if tried else "  (no candidate found)"
        raise ImportError(
            "gmmc: libgmmc.so not found. Set GMMC_LIBRARY to its path, install the package with "
            "'pip install ./python', or build the library (cmake -S . -B build && cmake --build build). "
            "Tried:\n" + where)
