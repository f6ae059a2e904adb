"""DLPack both ways with numpy (2.x versioned and 1.x-style unversioned) and PyTorch (CPU)."""
import gc

import numpy as np
import pytest

import aphelion


class Numpy1Producer:
    """A producer that knows only the unversioned protocol, as numpy 1.x."""

    def __init__(self, arr):
        self.arr = arr

    def __dlpack__(self, stream=None):
        return self.arr.__dlpack__()

    def __dlpack_device__(self):
        return self.arr.__dlpack_device__()


class Numpy1Consumer:
    """Asks for an unversioned capsule, as numpy 1.x's from_dlpack does."""

    def __init__(self, t):
        self.t = t

    def __dlpack__(self, stream=None):
        return self.t.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()


def test_numpy2_both_directions():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    t = aphelion.from_dlpack(a)
    assert t.data_ptr == a.ctypes.data and t.strides == (4, 2) and not t.is_read_only
    back = np.from_dlpack(t)
    assert back.ctypes.data == a.ctypes.data and back.strides == a.strides
    back[0, 0] = 42
    assert a[0, 0] == 42
    assert t.__dlpack_device__() == (1, 0)


def test_numpy1_unversioned_both_directions():
    a = np.arange(6, dtype=np.int64)
    t = aphelion.from_dlpack(Numpy1Producer(a))
    assert t.data_ptr == a.ctypes.data
    cap = t.__dlpack__()
    assert "dltensor" in repr(cap) and "versioned" not in repr(cap)
    n = np.from_dlpack(Numpy1Consumer(t))
    assert n.ctypes.data == a.ctypes.data and n.tolist() == list(range(6))


def test_read_only_through_dlpack():
    a = np.arange(4, dtype=np.float32)
    a.flags.writeable = False
    t = aphelion.from_dlpack(a)
    assert t.is_read_only
    assert not np.from_dlpack(t).flags.writeable
    with pytest.raises(BufferError):
        t.__dlpack__()  # unversioned capsules cannot say read-only


def test_capsules_through_the_c_api_for_bf16():
    b = aphelion.cast(np.arange(4, dtype=np.float32), "bf16")
    cap = b.__dlpack__(max_version=(1, 1))
    assert "dltensor_versioned" in repr(cap)
    t = aphelion.from_dlpack(cap)
    assert t.dtype == aphelion.DType.BF16 and t.data_ptr == b.data_ptr
    with pytest.raises(ValueError):
        aphelion.from_dlpack(cap)  # consumed
    unused = b.__dlpack__(max_version=(1, 1))
    del unused  # the capsule's destructor gives the reference back
    gc.collect()


def test_producer_deleter_runs_when_last_tensor_goes():
    a = np.ones(8, np.float32)
    refs0 = __import__("sys").getrefcount(a)
    t = aphelion.from_dlpack(a)
    assert __import__("sys").getrefcount(a) > refs0  # numpy's capsule keeps the array
    v = t[2:]
    t.close()
    assert __import__("sys").getrefcount(a) > refs0
    v.close()
    gc.collect()
    assert __import__("sys").getrefcount(a) == refs0


def _torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("PyTorch is not installed (ensure-deps.sh installs it unless APHELION_NO_TORCH=1)")
    return torch


def test_torch_cpu_both_directions():
    torch = _torch()
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()
    t = aphelion.from_dlpack(x)
    assert t.data_ptr == x.data_ptr() and t.strides == tuple(x.stride()) and t.shape == tuple(x.shape)
    y = torch.from_dlpack(t)
    assert y.data_ptr() == x.data_ptr()
    y[0, 0] = -1
    assert x[0, 0] == -1
    b = torch.randn(5, dtype=torch.bfloat16)
    tb = aphelion.from_dlpack(b)
    assert tb.dtype == aphelion.DType.BF16 and tb.data_ptr == b.data_ptr()
    r = aphelion.relu(aphelion.cast(tb, "f32"))
    np.testing.assert_array_equal(torch.from_dlpack(r).numpy(), torch.relu(b.float()).numpy())
    back = torch.from_dlpack(aphelion.cast(r, "bf16"))
    assert back.dtype == torch.bfloat16
