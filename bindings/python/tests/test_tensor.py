"""Tensors and numpy: zero-copy both ways, strides, read-only, deleters, ownership."""
import gc
import threading
import weakref

import numpy as np
import pytest

import aphelion


def test_from_numpy_shares_memory_and_strides():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    v = a[::2, 1::2]  # a strided view: strides (48, 8) bytes
    t = aphelion.from_numpy(v)
    assert t.shape == (2, 3) and t.strides == (12, 2) and not t.is_contiguous
    assert t.data_ptr == v.ctypes.data
    back = t.numpy()
    assert back.ctypes.data == v.ctypes.data and back.strides == v.strides
    back[1, 2] = -7.0
    assert a[2, 5] == -7.0  # one memory
    np.testing.assert_array_equal(t.to_numpy(), v)


def test_numpy_view_of_library_tensor_outlives_wrapper():
    t = aphelion.zeros([3, 4], "f64")
    arr = t.numpy()
    assert arr.dtype == np.float64 and arr.shape == (3, 4) and arr.flags.writeable
    ptr = t.data_ptr
    t.close()
    t.close()  # idempotent
    gc.collect()
    arr += 2.5  # the view holds its own reference: still valid memory
    assert arr.ctypes.data == ptr and float(arr.sum()) == 30.0
    with pytest.raises(ValueError):
        t.shape


def test_deleter_called_once_after_last_reference():
    calls0, alive0 = aphelion.deleter_stats()
    a = np.ones((5, 5), dtype=np.int32)
    wr = weakref.ref(a.base if a.base is not None else a) if False else None
    t = aphelion.from_numpy(a)
    view = t.transpose(0, 1)
    del a
    gc.collect()
    assert aphelion.deleter_stats() == (calls0, alive0 + 1)  # the array is kept alive for the library
    t.close()
    assert aphelion.deleter_stats() == (calls0, alive0 + 1)  # the view still uses it
    assert view.numpy().sum() == 25
    del view
    gc.collect()
    assert aphelion.deleter_stats() == (calls0 + 1, alive0)


def test_read_only_array_stays_read_only():
    a = np.arange(6, dtype=np.float32)
    a.flags.writeable = False
    t = aphelion.from_numpy(a)
    assert t.is_read_only and t.data_ptr == a.ctypes.data
    assert not t.numpy().flags.writeable
    with pytest.raises(aphelion.InvalidArgumentError, match="read-only"):
        t.data_ptr_mut()
    with pytest.raises(aphelion.InvalidArgumentError, match="read-only"):
        aphelion.relu(aphelion.zeros([6]), out=t)
    c = t.clone()
    assert not c.is_read_only and c.numpy().flags.writeable


def test_tensor_from_sequences_and_dtypes():
    t = aphelion.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.dtype == aphelion.DType.F32 and t.shape == (2, 2)
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    i = aphelion.tensor([1, 2, 3])
    assert i.dtype == aphelion.DType.I64 and i.tolist() == [1, 2, 3]
    h = aphelion.tensor([1.0, 2.0], dtype="f16")
    assert h.dtype == aphelion.DType.F16 and h.numpy().dtype == np.float16
    b = aphelion.tensor([1.0, 2.0], dtype="bf16")
    assert b.dtype == aphelion.DType.BF16
    with pytest.raises(TypeError, match="numpy dtype"):
        b.numpy()
    assert aphelion.cast(b, "f32").tolist() == [1.0, 2.0]
    s = aphelion.tensor(3.0)
    assert s.shape == () and s.item() == 3.0
    z = aphelion.empty([0, 4])
    assert z.numel == 0 and z.numpy().shape == (0, 4)


def test_views():
    x = aphelion.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    ref = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), ref.transpose(2, 0, 1))
    np.testing.assert_array_equal(x[1, :, ::2].numpy(), ref[1, :, ::2])
    np.testing.assert_array_equal(x[..., -1].numpy(), ref[..., -1])
    np.testing.assert_array_equal(x.reshape(6, 4).numpy(), ref.reshape(6, 4))
    np.testing.assert_array_equal(x.narrow(1, 1, 2).numpy(), ref[:, 1:3])
    e = aphelion.tensor(np.arange(3, dtype=np.float32)).reshape(1, 3).expand(4, 3)
    assert e.strides == (0, 1) and e.numpy().strides == (0, 4)
    assert x.shares_storage(x.T)
    with pytest.raises(aphelion.InvalidArgumentError, match="dim 3 is out of range"):
        x.select(3, 0)


def test_ownership_any_release_order():
    d = aphelion.Device("cpu")
    t = aphelion.zeros([4], device=d)
    v = t[1:3]
    dev2 = t.device
    assert dev2 == d
    d.close()  # tensors keep their device alive
    dev2.close()
    t.close()
    assert v.numpy().tolist() == [0.0, 0.0]
    v.close()
    v.close()
    with aphelion.zeros([2]) as w:
        assert w.numel == 2
    assert w.closed


def test_gc_of_many_wrappers_from_threads():
    base = np.ones(1000, np.float32)
    calls0, alive0 = aphelion.deleter_stats()

    def work():
        for _ in range(200):
            t = aphelion.from_numpy(base)
            s = aphelion.sum(t, 0)
            assert s.item() == 1000.0
            del t, s

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    gc.collect()
    calls, alive = aphelion.deleter_stats()
    assert calls == calls0 + 800 and alive == alive0


def test_device_and_tracker():
    cpu = aphelion.Device("cpu")
    assert cpu.label == "cpu" and cpu.kind == aphelion.DeviceKind.CPU and cpu.ordinal == 0
    assert aphelion.Device.count("cpu") == 1
    assert aphelion.Device("cpu") == cpu  # same handle
    sel = aphelion.Device.select(aphelion.DeviceConfig(force_cpu=True))
    assert sel.kind == aphelion.DeviceKind.CPU
    free, total = cpu.memory_info()
    assert 0 < free <= total
    tr = aphelion.Tracker(1 << 20)
    tr.allocate(1000)
    assert tr.allocated_bytes == 1000 and tr.would_fit(1 << 19) and not tr.would_fit(1 << 21)
    tr.deallocate(1000)
    assert tr.peak_bytes == 1000
    assert tr.estimate_with_overhead([1000], "f32") == 4400
    stats = cpu.memory_stats()
    assert "allocated_bytes" in stats and stats["segments"] >= 0
    s = aphelion.Stream(cpu)
    assert s.query() and s.device == cpu
    s.synchronize()
    e = aphelion.Event(cpu)
    e.record(s)
    assert e.query()


def test_safetensors_roundtrip(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.array([1, -2, 3], dtype=np.int64)
    p = tmp_path / "w.safetensors"
    aphelion.save_safetensors(p, {"a": a, "b": b}, metadata={"format": "pt"})
    with aphelion.SafetensorsFile(p) as f:
        assert sorted(f.names()) == ["a", "b"]
        assert f.metadata() == {"format": "pt"}
        assert f.info("a") == (aphelion.DType.F32, (3, 4))
        t = f.tensor("a")
        with pytest.raises(aphelion.NotFoundError):
            f.tensor("zzz")
    assert t.is_read_only  # a view of the mapping, alive after close
    np.testing.assert_array_equal(t.numpy(), a)
    assert not t.numpy().flags.writeable
