"""GPU arrays (__cuda_array_interface__, __dlpack__) on a machine without a GPU.

Objects that describe GPU memory (fakes: their addresses are never read)
go through the Python validation and libgmmc's gmmc_data_wrap_device: on a
host estimator every method refuses them with what to do; a bad dtype,
1-D arrays, broadcast or misaligned strides are refused before that; the
DLPack path parses a real capsule (NumPy's, labelled a CUDA device). What
a GPU does with them is tests/gpu/device_arrays.sh's (PyTorch on an H100)."""
import numpy as np
import pytest

from gmmc import GaussianMixture
from gmmc import _device

ADDRESS = 0x7F0000000000  # 256-byte aligned, as allocators give; never dereferenced


class FakeCAI:
    def __init__(self, shape=(100, 3), typestr="<f4", strides=None, stream=None, address=ADDRESS):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (address, False),
                                         "version": 3, "strides": strides, "stream": stream}


class FakeDLPack:
    """A host array's DLPack capsule, presented as on CUDA device 0."""

    def __init__(self, array):
        self.array = array

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        return self.array.__dlpack__()


def fitted():
    X = np.random.default_rng(0).normal(size=(200, 3))
    return GaussianMixture(2, random_state=0, device="cpu").fit(X)


HOST = "this context runs on the host"


@pytest.mark.parametrize("make", [lambda: FakeCAI(), lambda: FakeCAI(typestr="<f8"),
                                  lambda: FakeCAI(strides=(4, 400)),  # Fortran order, float32
                                  lambda: FakeDLPack(np.zeros((100, 3), np.float32))])
def test_host_estimator_refuses_gpu_arrays(make):
    X = make()
    with pytest.raises(ValueError, match=HOST):
        GaussianMixture(2, device="cpu").fit(X)
    gm = fitted()
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with pytest.raises(ValueError, match=HOST):
            method(X)
    with pytest.raises(ValueError, match=HOST):
        GaussianMixture(2, device="cpu").partial_fit(X)


def test_refusals_before_the_library():
    gm = GaussianMixture(2, device="cpu")
    with pytest.raises(TypeError, match="float32 or float64"):
        gm.fit(FakeCAI(typestr="<i4"))
    with pytest.raises(TypeError, match="float32 or float64"):
        gm.fit(FakeCAI(typestr="<f2"))
    with pytest.raises(TypeError, match="float32 or float64"):
        gm.fit(FakeDLPack(np.zeros((10, 3), np.int32)))
    with pytest.raises(ValueError, match="Expected 2D array"):
        gm.fit(FakeCAI(shape=(100,)))
    with pytest.raises(ValueError, match="strides"):
        gm.fit(FakeCAI(strides=(0, 4)))  # a broadcast (expanded) view
    with pytest.raises(ValueError, match="multiples of the element size"):
        gm.fit(FakeCAI(strides=(13, 4)))
    with pytest.raises(ValueError, match="masked"):
        x = FakeCAI()
        x.__cuda_array_interface__["mask"] = object()
        gm.fit(x)
    with pytest.raises(ValueError, match="minimum of 2"):
        gm.fit(FakeCAI(shape=(1, 3)))
    with pytest.raises(ValueError, match="3 features"):
        fitted().predict(FakeCAI(shape=(10, 4)))


def test_description():
    d = _device.wrap(FakeCAI(strides=(4, 400), stream=7))
    assert d.shape == (100, 3) and d.dtype == np.float32 and d.strides_elems == (1, 100) and d.stream == 7
    d = _device.wrap(FakeCAI(typestr="<f8"))
    assert d.strides_elems == (3, 1) and d.device == -1 and d.stream is None  # v3, stream None: no wait
    x = FakeCAI()
    del x.__cuda_array_interface__["stream"]  # version 2 (PyTorch's): the legacy default stream
    assert _device.wrap(x).stream == 1
    a = np.asfortranarray(np.zeros((50, 4)))
    d = _device.wrap(FakeDLPack(a))
    assert d.shape == (50, 4) and d.dtype == np.float64 and d.strides_elems == (1, 50)
    assert d.ptr == a.ctypes.data
    assert _device.wrap(np.zeros((3, 3))) is None and _device.wrap([[1.0]]) is None
