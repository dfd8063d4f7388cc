"""An in-tree PEP 517 build backend for the gmmc Python package (PEP 660 editable installs too).

Why not setuptools: the package is pure Python plus one shared library that
CMake builds from the repository around it; a wheel is a zip file with three
small metadata files, so writing it directly needs nothing installed beyond
Python and keeps ``pip install ./python`` working offline, in a fresh
virtual environment, with or without build isolation.

What build_wheel does:
  1. libgmmc.so: copied from $GMMC_BUILD_DIR when that is set (an existing
     build tree; no compilation), else built with CMake from the repository
     ($GMMC_SOURCE_DIR, default: the directory above python/) in a temporary
     build directory, target ``gmmc`` only, tests off;
  2. the wheel: gmmc/*.py, gmmc/_lib/libgmmc.so.<major> (the real file, under
     its soname), and the .dist-info (METADATA, WHEEL, RECORD). The tag is
     py3-none-<platform>: the package has no Python extension (ctypes), but
     the library is native code.

build_sdist packs python/ alone; building a wheel from it needs
GMMC_SOURCE_DIR or GMMC_BUILD_DIR (the C sources are not in it).
build_editable installs a .pth file pointing at python/, which then finds
libgmmc in the checkout's build tree (see gmmc/_loader.py).
"""
import base64
import glob
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

NAME = "gmmc"
SUMMARY = "scikit-learn's GaussianMixture trained by gmmc's generated EM kernels (GPU and CPU)"
REQUIRES_PYTHON = ">=3.8"
REQUIRES_DIST = ["numpy"]

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)  # python/
PACKAGE_DIR = os.path.join(PYTHON_DIR, NAME)


def _version():
    with open(os.path.join(PACKAGE_DIR, "_version.py"), encoding="utf-8") as f:
        m = re.search(r'__version__\s*=\s*"([^"]+)"', f.read())
    if not m:
        raise RuntimeError("gmmc/_version.py has no __version__")
    return m.group(1)


def _metadata():
    lines = ["Metadata-Version: 2.1", f"Name: {NAME}", f"Version: {_version()}", f"Summary: {SUMMARY}",
             f"Requires-Python: {REQUIRES_PYTHON}"]
    lines += [f"Requires-Dist: {r}" for r in REQUIRES_DIST]
    lines += ["Provides-Extra: sklearn", "Requires-Dist: scikit-learn; extra == \"sklearn\"", "",
              "Python bindings of gmmc (ctypes over libgmmc.so). See docs/python.md in the gmmc repository.", ""]
    return "\n".join(lines)


def _tag():
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{platform}"


def _log(message):
    print(f"gmmc build backend: {message}", file=sys.stderr, flush=True)


# ---- libgmmc ----------------------------------------------------------------------------------------
def _library_in(build_dir):
    """The real file of libgmmc.so in a build tree (the symlinks resolved)."""
    link = os.path.join(build_dir, "libgmmc.so")
    if os.path.exists(link):
        return os.path.realpath(link)
    found = sorted(glob.glob(os.path.join(build_dir, "libgmmc.so.*")), key=len, reverse=True)
    if found:
        return os.path.realpath(found[0])
    raise RuntimeError(f"no libgmmc.so in {build_dir}")


def _build_library(workdir):
    source = os.environ.get("GMMC_SOURCE_DIR") or os.path.dirname(PYTHON_DIR)
    if not os.path.isfile(os.path.join(source, "CMakeLists.txt")):
        raise RuntimeError(f"the gmmc C sources are not at {source}: set GMMC_SOURCE_DIR to the repository, or "
                           "GMMC_BUILD_DIR to an existing build tree")
    cmake = shutil.which("cmake")
    if not cmake:
        raise RuntimeError("cmake is needed to build libgmmc (or set GMMC_BUILD_DIR to an existing build tree)")
    build = os.path.join(workdir, "cmake-build")
    jobs = str(os.cpu_count() or 1)
    _log(f"building libgmmc with CMake from {source} in {build}")
    subprocess.check_call([cmake, "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DGMMC_BUILD_TESTS=OFF"],
                          stdout=sys.stderr)
    subprocess.check_call([cmake, "--build", build, "--target", "gmmc", "-j", jobs], stdout=sys.stderr)
    return _library_in(build)


def _library(workdir):
    build_dir = os.environ.get("GMMC_BUILD_DIR")
    if build_dir:
        path = _library_in(build_dir)
        _log(f"using {path} (GMMC_BUILD_DIR)")
        return path
    return _build_library(workdir)


def _soname(path):
    """libgmmc.so.1 for libgmmc.so.1.0.0: the name the dynamic loader records."""
    base = os.path.basename(path)
    m = re.match(r"(libgmmc\.so\.\d+)", base)
    return m.group(1) if m else "libgmmc.so"


# ---- wheel writing ------------------------------------------------------------------------------------
class _Wheel:
    def __init__(self, path):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
        self.records = []

    def add(self, arcname, data, executable=False):
        info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if executable else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self.records.append(f"{arcname},sha256={digest},{len(data)}")

    def close(self, dist_info):
        record = f"{dist_info}/RECORD"
        self.records.append(f"{record},,")
        self.zip.writestr(zipfile.ZipInfo(record, date_time=(1980, 1, 1, 0, 0, 0)), "\n".join(self.records) + "\n")
        self.zip.close()


def _dist_info_files(tag, editable=False):
    wheel = f"Wheel-Version: 1.0\nGenerator: gmmc_build_backend\nRoot-Is-Purelib: {'true' if editable else 'false'}\n" \
            f"Tag: {tag}\n"
    return {"METADATA": _metadata(), "WHEEL": wheel, "top_level.txt": NAME + "\n"}


def _package_sources():
    for root, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "_lib")]
        for f in sorted(files):
            if f.endswith(".py"):
                full = os.path.join(root, f)
                yield full, os.path.relpath(full, PYTHON_DIR).replace(os.sep, "/")


def _dist_info_name():
    return f"{NAME}-{_version()}.dist-info"


# ---- PEP 517 hooks ------------------------------------------------------------------------------------------
def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None, _editable=False):
    d = os.path.join(metadata_directory, _dist_info_name())
    os.makedirs(d, exist_ok=True)
    for name, text in _dist_info_files(_tag() if not _editable else "py3-none-any", _editable).items():
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(text)
    return _dist_info_name()


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings, _editable=True)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tag()
    filename = f"{NAME}-{_version()}-{tag}.whl"
    with tempfile.TemporaryDirectory(prefix="gmmc-wheel-") as work:
        lib = _library(work)
        w = _Wheel(os.path.join(wheel_directory, filename))
        for full, arcname in _package_sources():
            with open(full, "rb") as f:
                w.add(arcname, f.read())
        with open(lib, "rb") as f:
            w.add(f"{NAME}/_lib/{_soname(lib)}", f.read(), executable=True)
        dist_info = _dist_info_name()
        for name, text in _dist_info_files(tag).items():
            w.add(f"{dist_info}/{name}", text.encode())
        w.close(dist_info)
    _log(f"wrote {filename}")
    return filename


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    tag = "py3-none-any"
    filename = f"{NAME}-{_version()}-{tag}.whl"
    w = _Wheel(os.path.join(wheel_directory, filename))
    w.add(f"_{NAME}_editable.pth", (PYTHON_DIR + "\n").encode())
    dist_info = _dist_info_name()
    for name, text in _dist_info_files(tag, editable=True).items():
        w.add(f"{dist_info}/{name}", text.encode())
    w.close(dist_info)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    filename = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add_bytes(name, data):
            info = tarfile.TarInfo(f"{base}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        add_bytes("PKG-INFO", _metadata().encode())
        for rel in ["pyproject.toml", "README.md"]:
            full = os.path.join(PYTHON_DIR, rel)
            if os.path.exists(full):
                with open(full, "rb") as f:
                    add_bytes(rel, f.read())
        with open(os.path.abspath(__file__), "rb") as f:
            add_bytes("_build_backend/gmmc_build_backend.py", f.read())
        for full, arcname in _package_sources():
            with open(full, "rb") as f:
                add_bytes(arcname, f.read())
    return filename
