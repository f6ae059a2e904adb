#!/usr/bin/env python3
"""test_dlpack_numpy.py — DLPack interop between libaphelion (header section 13) and numpy.

Usage: python3 tests/test_dlpack_numpy.py /path/to/libaphelion.so.0

The library is loaded with ctypes; the DLPack structs are declared with ctypes.Structure exactly
as include/aphelion_dlpack.h lays them out, and the capsules follow the DLPack Python
specification (https://dmlc.github.io/dlpack/latest/python_spec.html): a producer's capsule is
named "dltensor_versioned" (DLPack 1.x) or "dltensor" (legacy), a consumer renames it to
"used_dltensor_versioned" / "used_dltensor" once it has taken ownership, and the capsule's
destructor calls the managed tensor's deleter only when the capsule was never consumed.

 - libaphelion -> numpy (numpy.from_dlpack on a small producer class): every dtype numpy shares
   with libaphelion, zero copy, strided views, writes through numpy seen by libaphelion, the
   export keeping the memory alive after the handle is released and the allocator's statistics
   returning to their baseline when the array goes; 0-dim and zero-size tensors; a producer that
   only speaks the legacy unversioned protocol; unconsumed capsules.
 - numpy -> libaphelion (aph_tensor_from_dlpack / _unversioned on numpy's own capsules): zero
   copy, shapes and strides of transposed and sliced views, reads and writes both ways, numpy's
   buffer living exactly as long as the libaphelion tensor, read-only arrays, and a dtype
   libaphelion lacks (complex64) rejected with the capsule left to numpy.

CPU device only. Exits 77 (skipped) without numpy >= 2.1 (the first numpy whose __dlpack__ takes
max_version, dl_device and copy). Random data comes from numpy.random.default_rng with a printed
seed (APH_TEST_SEED=<n> replays a run).
"""

import ctypes
import gc
import os
import sys
import unittest
import weakref
from ctypes import (CFUNCTYPE, POINTER, PYFUNCTYPE, Structure, byref, c_char_p, c_int, c_int32,
                    c_int64, c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p, py_object)

SKIP = 77

try:
    import numpy as np
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"SKIP: numpy cannot be imported ({exc}); this test needs numpy >= 2.1")
    sys.exit(SKIP)

if np.lib.NumpyVersion(np.__version__) < "2.1.0":
    print(f"SKIP: numpy {np.__version__} is older than 2.1 (its __dlpack__ lacks max_version, "
          "dl_device and copy)")
    sys.exit(SKIP)

# ---------------------------------------------------------------------------------------------
# DLPack structs, as include/aphelion_dlpack.h declares them
# ---------------------------------------------------------------------------------------------

kDLCPU = 1
kDLInt, kDLUInt, kDLFloat, kDLBfloat, kDLComplex, kDLBool = 0, 1, 2, 4, 5, 6
DLPACK_FLAG_BITMASK_READ_ONLY = 1 << 0


class DLPackVersion(Structure):
    _fields_ = [("major", c_uint32), ("minor", c_uint32)]


class DLDevice(Structure):
    _fields_ = [("device_type", c_int32),  # DLDeviceType: a C enum, int-sized
                ("device_id", c_int32)]


class DLDataType(Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class DLTensor(Structure):
    _fields_ = [("data", c_void_p),
                ("device", DLDevice),
                ("ndim", c_int32),
                ("dtype", DLDataType),
                ("shape", POINTER(c_int64)),
                ("strides", POINTER(c_int64)),
                ("byte_offset", c_uint64)]


class DLManagedTensor(Structure):
    pass


DLManagedTensorDeleter = CFUNCTYPE(None, POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor),
                            ("manager_ctx", c_void_p),
                            ("deleter", DLManagedTensorDeleter)]


class DLManagedTensorVersioned(Structure):
    pass


DLManagedTensorVersionedDeleter = CFUNCTYPE(None, POINTER(DLManagedTensorVersioned))
DLManagedTensorVersioned._fields_ = [("version", DLPackVersion),
                                     ("manager_ctx", c_void_p),
                                     ("deleter", DLManagedTensorVersionedDeleter),
                                     ("flags", c_uint64),
                                     ("dl_tensor", DLTensor)]

# ---------------------------------------------------------------------------------------------
# The library
# ---------------------------------------------------------------------------------------------

APH_OK = 0
APH_ERR_NOT_IMPLEMENTED = 9
APH_DEVICE_CPU = 0

# aph_dtype values (header section 4) of the numpy dtypes both sides know.
APH_DTYPES = {
    np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.float64): 3,
    np.dtype(np.uint8): 4, np.dtype(np.uint32): 5, np.dtype(np.int8): 6,
    np.dtype(np.int16): 7, np.dtype(np.int32): 8, np.dtype(np.int64): 9,
    np.dtype(np.bool_): 10,
}
NP_DTYPES = {v: k for k, v in APH_DTYPES.items()}


class aph_memory_stats(Structure):
    _fields_ = [("struct_size", c_size_t)] + [(name, c_uint64) for name in (
        "allocated_bytes", "allocated_bytes_peak", "reserved_bytes", "reserved_bytes_peak",
        "active_bytes", "active_bytes_peak", "requested_bytes", "requested_bytes_peak",
        "allocations", "frees", "segment_allocations", "segment_frees", "cache_misses",
        "alloc_retries", "out_of_memory_events", "leaked_allocations", "active_allocations",
        "segments")]


def usage_and_exit():
    print(f"usage: {sys.argv[0]} /path/to/libaphelion.so.0", file=sys.stderr)
    sys.exit(2)


if len(sys.argv) < 2:
    usage_and_exit()
LIB_PATH = sys.argv[1]
lib = ctypes.CDLL(LIB_PATH)

P = c_void_p  # opaque handles
SENTINEL = 0x5E17  # preset in out parameters that a failing call must leave alone


def _decl(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_decl("aph_status_name", c_char_p, c_int)
_decl("aph_last_error", c_char_p)
_decl("aph_device_open", c_int, c_int, c_int32, POINTER(P))
_decl("aph_device_release", None, P)
_decl("aph_device_memory_stats", c_int, P, POINTER(aph_memory_stats))
_decl("aph_tensor_from_host", c_int, P, c_int, POINTER(c_int64), c_size_t, c_void_p, c_size_t,
      POINTER(P))
_decl("aph_tensor_release", None, P)
_decl("aph_tensor_dtype", c_int, P)
_decl("aph_tensor_ndim", c_size_t, P)
_decl("aph_tensor_shape", POINTER(c_int64), P)
_decl("aph_tensor_strides", POINTER(c_int64), P)
_decl("aph_tensor_numel", c_int64, P)
_decl("aph_tensor_nbytes", c_uint64, P)
_decl("aph_tensor_data", c_void_p, P)
_decl("aph_tensor_byte_offset", c_uint64, P)
_decl("aph_tensor_is_read_only", c_int, P)
_decl("aph_tensor_to_host", c_int, P, c_void_p, c_size_t)
_decl("aph_tensor_copy_from_host", c_int, P, c_void_p, c_size_t)
_decl("aph_tensor_transpose", c_int, P, c_int64, c_int64, POINTER(P))
_decl("aph_tensor_slice", c_int, P, c_int64, c_int64, c_int64, c_int64, POINTER(P))
_decl("aph_tensor_to_dlpack", c_int, P, POINTER(POINTER(DLManagedTensorVersioned)))
_decl("aph_tensor_to_dlpack_unversioned", c_int, P, POINTER(POINTER(DLManagedTensor)))
_decl("aph_tensor_from_dlpack", c_int, POINTER(DLManagedTensorVersioned), POINTER(P))
_decl("aph_tensor_from_dlpack_unversioned", c_int, POINTER(DLManagedTensor), POINTER(P))


def last_error():
    return lib.aph_last_error().decode("utf-8", "replace")


def status_text(status):
    return f"{lib.aph_status_name(status).decode()} ({status}): {last_error()!r}"


def check(status, what):
    if status != APH_OK:
        raise AssertionError(f"{what} failed with {status_text(status)}")


# ---------------------------------------------------------------------------------------------
# The PyCapsule C API
# ---------------------------------------------------------------------------------------------

PyCapsule_Destructor = CFUNCTYPE(None, c_void_p)

capi = ctypes.pythonapi
capi.PyCapsule_New.restype = py_object
capi.PyCapsule_New.argtypes = [c_void_p, c_char_p, PyCapsule_Destructor]
capi.PyCapsule_IsValid.restype = c_int
capi.PyCapsule_IsValid.argtypes = [py_object, c_char_p]
capi.PyCapsule_GetPointer.restype = c_void_p
capi.PyCapsule_GetPointer.argtypes = [py_object, c_char_p]
capi.PyCapsule_SetName.restype = c_int
capi.PyCapsule_SetName.argtypes = [py_object, c_char_p]
capi.PyCapsule_GetName.restype = c_char_p
capi.PyCapsule_GetName.argtypes = [py_object]

# Inside a capsule destructor the capsule's reference count is already 0: handing it to ctypes
# as a py_object would take and drop a reference and deallocate it a second time. The
# destructor therefore sees a plain address and calls these raw-pointer prototypes.
_raw_is_valid = PYFUNCTYPE(c_int, c_void_p, c_char_p)(("PyCapsule_IsValid", capi))
_raw_get_pointer = PYFUNCTYPE(c_void_p, c_void_p, c_char_p)(("PyCapsule_GetPointer", capi))

# Capsule names must outlive their capsules: module constants do.
NAME_VERSIONED = b"dltensor_versioned"
NAME_UNVERSIONED = b"dltensor"
NAME_USED_VERSIONED = b"used_dltensor_versioned"
NAME_USED_UNVERSIONED = b"used_dltensor"

# How many times a capsule destructor handed an unconsumed managed tensor back to its deleter.
destructor_deletions = {"versioned": 0, "unversioned": 0}


def _destroy_versioned(capsule_address):
    # Per the DLPack Python spec: a capsule still named "dltensor_versioned" was never consumed,
    # so its managed tensor is still ours to delete; a renamed one belongs to the consumer.
    if _raw_is_valid(capsule_address, NAME_VERSIONED):
        ptr = _raw_get_pointer(capsule_address, NAME_VERSIONED)
        managed = ctypes.cast(ptr, POINTER(DLManagedTensorVersioned))
        if managed.contents.deleter:
            managed.contents.deleter(managed)
        destructor_deletions["versioned"] += 1


def _destroy_unversioned(capsule_address):
    if _raw_is_valid(capsule_address, NAME_UNVERSIONED):
        ptr = _raw_get_pointer(capsule_address, NAME_UNVERSIONED)
        managed = ctypes.cast(ptr, POINTER(DLManagedTensor))
        if managed.contents.deleter:
            managed.contents.deleter(managed)
        destructor_deletions["unversioned"] += 1


# Kept alive for the life of the module: capsules hold only the C function pointer.
DESTROY_VERSIONED = PyCapsule_Destructor(_destroy_versioned)
DESTROY_UNVERSIONED = PyCapsule_Destructor(_destroy_unversioned)


class AphArray:
    """A DLPack producer over an aph tensor (it holds its own reference to the handle)."""

    def __init__(self, tensor, legacy_only=False):
        self.tensor = tensor
        self.legacy_only = legacy_only  # ignore max_version, always hand out "dltensor"
        self.calls = []                 # the max_version of every __dlpack__ call
        self.exported = []              # ("versioned" | "unversioned", field snapshot)

    def __dlpack_device__(self):
        return (kDLCPU, 0)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        self.calls.append(max_version)
        if stream is not None:
            raise BufferError("a CPU tensor takes no stream")
        if dl_device is not None and tuple(dl_device) != (kDLCPU, 0):
            raise BufferError(f"cannot export to device {dl_device!r}")
        if copy:
            raise BufferError("this producer only exports without copying")
        if not self.legacy_only and max_version is not None and tuple(max_version) >= (1, 0):
            out = POINTER(DLManagedTensorVersioned)()
            check(lib.aph_tensor_to_dlpack(self.tensor, byref(out)), "aph_tensor_to_dlpack")
            self.exported.append(("versioned", snapshot(out.contents)))
            return capi.PyCapsule_New(ctypes.cast(out, c_void_p), NAME_VERSIONED,
                                      DESTROY_VERSIONED)
        out = POINTER(DLManagedTensor)()
        check(lib.aph_tensor_to_dlpack_unversioned(self.tensor, byref(out)),
              "aph_tensor_to_dlpack_unversioned")
        self.exported.append(("unversioned", snapshot(out.contents)))
        return capi.PyCapsule_New(ctypes.cast(out, c_void_p), NAME_UNVERSIONED,
                                  DESTROY_UNVERSIONED)


def snapshot(managed):
    """The fields of a managed tensor (either kind) as plain Python values."""
    dl = managed.dl_tensor
    snap = {
        "data": dl.data or 0,
        "device": (dl.device.device_type, dl.device.device_id),
        "ndim": dl.ndim,
        "dtype": (dl.dtype.code, dl.dtype.bits, dl.dtype.lanes),
        "shape": tuple(dl.shape[i] for i in range(dl.ndim)) if dl.shape else None,
        "strides": tuple(dl.strides[i] for i in range(dl.ndim)) if dl.strides else None,
        "byte_offset": dl.byte_offset,
        "has_deleter": bool(managed.deleter),
    }
    if isinstance(managed, DLManagedTensorVersioned):
        snap["version"] = (managed.version.major, managed.version.minor)
        snap["flags"] = managed.flags
    return snap


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

SEED = int(os.environ.get("APH_TEST_SEED", "0")) or int.from_bytes(os.urandom(4), "little")
print(f"test_dlpack_numpy: numpy {np.__version__}, seed {SEED} (APH_TEST_SEED={SEED} replays)",
      flush=True)
rng = np.random.default_rng(SEED)

DL_CODES = {"f": kDLFloat, "i": kDLInt, "u": kDLUInt, "b": kDLBool}


def random_array(dtype, shape):
    """Random values of dtype without zeros (bool: a mix of both values)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        a = rng.integers(0, 2, size=shape).astype(np.bool_)
        if a.size >= 2:
            a.flat[0], a.flat[1] = True, False
        return a
    if dtype.kind == "f":
        mag = rng.uniform(0.25, 4.0, size=shape)
        sign = np.where(rng.integers(0, 2, size=shape) == 1, 1.0, -1.0)
        return np.asarray(mag * sign, dtype=dtype)
    if dtype.kind == "u":
        return rng.integers(1, min(np.iinfo(dtype).max, 1 << 30), size=shape, dtype=dtype)
    mag = rng.integers(1, min(np.iinfo(dtype).max, 1 << 30), size=shape, dtype=dtype)
    return np.where(rng.integers(0, 2, size=shape) == 1, mag, -mag).astype(dtype)


def shape_arg(shape):
    arr = (c_int64 * max(len(shape), 1))(*shape)
    return arr, len(shape)


def aph_from_numpy(device, a):
    """A new aph tensor holding a copy of a (aph_tensor_from_host)."""
    a = np.require(a, requirements="C")  # (np.ascontiguousarray turns 0-dim into 1-dim)
    shp, ndim = shape_arg(a.shape)
    out = P()
    check(lib.aph_tensor_from_host(device, APH_DTYPES[a.dtype], shp, ndim,
                                   a.ctypes.data if a.nbytes else None, a.nbytes, byref(out)),
          f"aph_tensor_from_host({a.dtype}, {a.shape})")
    return out.value


def aph_shape(t):
    n = lib.aph_tensor_ndim(t)
    p = lib.aph_tensor_shape(t)
    return tuple(p[i] for i in range(n)) if n else ()


def aph_strides(t):
    n = lib.aph_tensor_ndim(t)
    p = lib.aph_tensor_strides(t)
    return tuple(p[i] for i in range(n)) if n else ()


def aph_to_numpy_copy(t):
    """The tensor's elements, read with aph_tensor_to_host into a fresh numpy array."""
    dtype = NP_DTYPES[lib.aph_tensor_dtype(t)]
    out = np.empty(aph_shape(t), dtype=dtype)
    if out.nbytes:
        out.reshape(-1).view(np.uint8)[:] = 0xA5  # poison (reshape: a view, also of 0-dim)
    check(lib.aph_tensor_to_host(t, out.ctypes.data if out.nbytes else None, out.nbytes),
          "aph_tensor_to_host")
    return out


def aph_write(t, values):
    values = np.require(values, requirements="C")
    return lib.aph_tensor_copy_from_host(t, values.ctypes.data if values.nbytes else None,
                                         values.nbytes)


def aph_view(fn, t, *args):
    out = P()
    check(fn(t, *args, byref(out)), fn.__name__)
    return out.value


def data_ptr(a):
    return a.__array_interface__["data"][0]


class CpuDevice:
    def __init__(self):
        dev = P()
        check(lib.aph_device_open(APH_DEVICE_CPU, 0, byref(dev)), "aph_device_open(cpu)")
        self.handle = dev.value

    def stats(self):
        s = aph_memory_stats()
        s.struct_size = ctypes.sizeof(s)
        check(lib.aph_device_memory_stats(self.handle, byref(s)), "aph_device_memory_stats")
        return s.active_allocations, s.allocated_bytes

    def close(self):
        lib.aph_device_release(self.handle)
        self.handle = None


class AphTestCase(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.dev = CpuDevice()
        self.baseline = self.dev.stats()

    def tearDown(self):
        gc.collect()
        self.assertEqual(self.dev.stats(), self.baseline,
                         "allocator (active_allocations, allocated_bytes) back at the baseline")
        self.dev.close()

    def assertArrayEqual(self, got, want, msg=""):
        self.assertEqual(got.shape, want.shape, msg)
        self.assertEqual(got.dtype, want.dtype, msg)
        self.assertTrue(np.array_equal(got, want), f"{msg}\ngot  {got!r}\nwant {want!r}")


# ---------------------------------------------------------------------------------------------
# The ctypes declarations match aphelion_dlpack.h (x86-64 / aarch64 LP64 layout)
# ---------------------------------------------------------------------------------------------

class TestStructLayout(unittest.TestCase):
    def test_layouts(self):
        s = ctypes.sizeof
        self.assertEqual(s(DLPackVersion), 8)
        self.assertEqual(s(DLDevice), 8)
        self.assertEqual(s(DLDataType), 4)
        self.assertEqual([DLTensor.data.offset, DLTensor.device.offset, DLTensor.ndim.offset,
                          DLTensor.dtype.offset, DLTensor.shape.offset, DLTensor.strides.offset,
                          DLTensor.byte_offset.offset], [0, 8, 16, 20, 24, 32, 40])
        self.assertEqual(s(DLTensor), 48)
        self.assertEqual([DLManagedTensor.manager_ctx.offset, DLManagedTensor.deleter.offset],
                         [48, 56])
        self.assertEqual(s(DLManagedTensor), 64)
        self.assertEqual([DLManagedTensorVersioned.version.offset,
                          DLManagedTensorVersioned.manager_ctx.offset,
                          DLManagedTensorVersioned.deleter.offset,
                          DLManagedTensorVersioned.flags.offset,
                          DLManagedTensorVersioned.dl_tensor.offset], [0, 8, 16, 24, 32])
        self.assertEqual(s(DLManagedTensorVersioned), 80)


# ---------------------------------------------------------------------------------------------
# libaphelion -> numpy
# ---------------------------------------------------------------------------------------------

EXPORT_DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.float16]


class TestExportToNumpy(AphTestCase):
    def export(self, t, legacy_only=False):
        """numpy.from_dlpack over t; returns (array, producer)."""
        producer = AphArray(t, legacy_only)
        arr = np.from_dlpack(producer)
        self.assertEqual(len(producer.exported), 1, "numpy called __dlpack__ once")
        return arr, producer

    def check_export(self, t, arr, producer, want, kind="versioned"):
        what = f"{kind} export of {want.dtype}{list(want.shape)}"
        exported_kind, snap = producer.exported[0]
        self.assertEqual(exported_kind, kind, what)
        if kind == "versioned":
            self.assertIsNotNone(producer.calls[0], "numpy passed max_version")
            self.assertGreaterEqual(tuple(producer.calls[0]), (1, 0))
            self.assertEqual(snap["version"], (1, 1), what)
            self.assertEqual(snap["flags"], 0, what)
        self.assertTrue(snap["has_deleter"], what)
        self.assertEqual(snap["device"], (kDLCPU, 0), what)
        self.assertEqual(snap["ndim"], want.ndim, what)
        self.assertEqual(snap["dtype"], (DL_CODES[want.dtype.kind], 8 * want.itemsize, 1), what)
        self.assertEqual(arr.dtype, want.dtype, what)
        self.assertEqual(arr.shape, want.shape, what)
        self.assertEqual(arr.shape, aph_shape(t), what)
        if want.size:
            # Zero copy: numpy's first element is the tensor's.
            self.assertEqual(data_ptr(arr), lib.aph_tensor_data(t), what)
            self.assertEqual(snap["data"] + snap["byte_offset"], lib.aph_tensor_data(t), what)
            self.assertEqual(snap["byte_offset"], lib.aph_tensor_byte_offset(t), what)
            self.assertEqual(arr.strides, tuple(s * want.itemsize for s in aph_strides(t)), what)
        self.assertArrayEqual(arr, want, what)

    def test_dtypes_versioned(self):
        for dtype in EXPORT_DTYPES:
            with self.subTest(dtype=np.dtype(dtype).name):
                want = random_array(dtype, (3, 4, 5))
                t = aph_from_numpy(self.dev.handle, want)
                arr, producer = self.export(t)
                self.check_export(t, arr, producer, want)
                self.assertTrue(arr.flags.writeable)
                self.assertFalse(arr.flags.owndata)
                del arr, producer
                lib.aph_tensor_release(t)

    def test_strided_views(self):
        base = random_array(np.float32, (6, 8))
        t = aph_from_numpy(self.dev.handle, base)
        tt = aph_view(lib.aph_tensor_transpose, t, 0, 1)
        ts = aph_view(lib.aph_tensor_slice, t, 1, 1, 8, 2)             # base[:, 1:8:2]
        tst = aph_view(lib.aph_tensor_slice, tt, 1, 1, 6, 2)            # base.T[:, 1:6:2]
        tss = aph_view(lib.aph_tensor_slice, ts, 0, -5, 6, 2)           # base[-5::2, 1:8:2]
        cases = [(tt, base.T), (ts, base[:, 1:8:2]), (tst, base.T[:, 1:6:2]),
                 (tss, base[-5::2, 1:8:2])]
        for i, (view, want) in enumerate(cases):
            with self.subTest(view=i, shape=want.shape, strides=want.strides):
                self.assertEqual(aph_shape(view), want.shape)
                arr, producer = self.export(view)
                self.check_export(view, arr, producer, want)
                self.assertEqual(arr.strides, want.strides)
                # Writes through numpy land in libaphelion's memory (and the other views).
                new = random_array(np.float32, want.shape)
                arr[...] = new
                self.assertArrayEqual(aph_to_numpy_copy(view), new, "numpy write seen by aph")
                want[...] = new  # keep the reference copy in step
                self.assertArrayEqual(aph_to_numpy_copy(t), base, "base after the write")
                del arr, producer
        for h in (tt, ts, tst, tss, t):
            lib.aph_tensor_release(h)

    def test_writes_visible_to_aph(self):
        for dtype in EXPORT_DTYPES:
            with self.subTest(dtype=np.dtype(dtype).name):
                t = aph_from_numpy(self.dev.handle, random_array(dtype, (5, 7)))
                arr, _ = self.export(t)
                new = random_array(dtype, (5, 7))
                arr[...] = new
                self.assertArrayEqual(aph_to_numpy_copy(t), new)
                arr[2, 3] = new[4, 6]
                self.assertEqual(aph_to_numpy_copy(t)[2, 3], new[4, 6])
                del arr
                lib.aph_tensor_release(t)

    def test_export_outlives_handle(self):
        for kind in ("versioned", "unversioned"):
            with self.subTest(kind=kind):
                before = self.dev.stats()
                want = random_array(np.float64, (64, 33))
                t = aph_from_numpy(self.dev.handle, want)
                during = self.dev.stats()
                self.assertEqual(during[0], before[0] + 1, "one allocation for the tensor")
                self.assertGreaterEqual(during[1], before[1] + want.nbytes)
                arr, producer = self.export(t, legacy_only=(kind == "unversioned"))
                ptr = lib.aph_tensor_data(t)
                lib.aph_tensor_release(t)
                t = None
                producer.tensor = None
                del producer
                gc.collect()
                # The export holds the tensor: the memory is still allocated and intact.
                self.assertEqual(self.dev.stats(), during, "memory held by the numpy array")
                self.assertEqual(data_ptr(arr), ptr)
                self.assertArrayEqual(arr, want)
                if arr.flags.writeable:  # numpy makes arrays from legacy capsules read-only
                    arr += 1.0
                    want += 1.0
                    self.assertArrayEqual(arr, want)
                view = arr[1::3, ::2]  # a numpy view keeps it alive too
                del arr
                gc.collect()
                self.assertEqual(self.dev.stats(), during, "memory held by a numpy view")
                self.assertArrayEqual(view, want[1::3, ::2])
                del view
                gc.collect()
                self.assertEqual(self.dev.stats(), before, "memory freed with the last array")

    def test_zero_dim(self):
        for dtype in (np.float32, np.int64, np.float16, np.bool_):
            with self.subTest(dtype=np.dtype(dtype).name):
                want = random_array(dtype, ())
                if dtype is np.bool_:
                    want = np.array(True)
                t = aph_from_numpy(self.dev.handle, want)
                self.assertEqual(lib.aph_tensor_ndim(t), 0)
                arr, producer = self.export(t)
                snap = producer.exported[0][1]
                self.assertEqual(snap["ndim"], 0)
                self.check_export(t, arr, producer, want)
                self.assertEqual(arr.ndim, 0)
                self.assertEqual(arr[()], want[()])
                arr[()] = want[()] * 2 if dtype is not np.bool_ else False
                self.assertArrayEqual(aph_to_numpy_copy(t), arr.copy())
                del arr, producer
                lib.aph_tensor_release(t)

    def test_zero_size(self):
        for shape in ((0,), (3, 0), (0, 4, 2)):
            for kind in ("versioned", "unversioned"):
                with self.subTest(shape=shape, kind=kind):
                    want = np.empty(shape, dtype=np.float32)
                    t = aph_from_numpy(self.dev.handle, want)
                    self.assertEqual(lib.aph_tensor_numel(t), 0)
                    self.assertIsNone(lib.aph_tensor_data(t), "zero-size data is NULL")
                    arr, producer = self.export(t, legacy_only=(kind == "unversioned"))
                    self.check_export(t, arr, producer, want, kind)
                    self.assertEqual(arr.size, 0)
                    self.assertEqual(producer.exported[0][1]["data"], 0, "DLPack data NULL")
                    del arr, producer
                    lib.aph_tensor_release(t)

    def test_unversioned_legacy_producer(self):
        # A producer that ignores max_version and hands out a legacy "dltensor" capsule: numpy
        # must still take it.
        for dtype in EXPORT_DTYPES:
            with self.subTest(dtype=np.dtype(dtype).name):
                want = random_array(dtype, (4, 6))
                t = aph_from_numpy(self.dev.handle, want)
                tt = aph_view(lib.aph_tensor_transpose, t, 0, 1)
                for handle, ref in ((t, want), (tt, want.T)):
                    arr, producer = self.export(handle, legacy_only=True)
                    self.check_export(handle, arr, producer, ref, kind="unversioned")
                    self.assertIsNotNone(producer.calls[0], "numpy asked for a version")
                    # Shared memory: a write on one side is seen on the other. (numpy 2.x
                    # makes arrays from legacy capsules read-only, as the legacy struct cannot
                    # say whether writing is allowed; then libaphelion does the writing.)
                    new = random_array(dtype, ref.shape)
                    if arr.flags.writeable:
                        arr[...] = new
                        self.assertArrayEqual(aph_to_numpy_copy(handle), new)
                    else:
                        check(aph_write(handle, new), "aph_tensor_copy_from_host")
                        self.assertArrayEqual(arr, new, "aph write seen through numpy")
                    ref[...] = new
                    del arr, producer
                lib.aph_tensor_release(tt)
                lib.aph_tensor_release(t)

    def test_unconsumed_capsules_are_deleted(self):
        # Capsules nobody consumes: their destructor calls the deleter, which drops the
        # export's reference, so the memory is freed once the handle goes too.
        for kind, max_version in (("versioned", (1, 1)), ("unversioned", None)):
            with self.subTest(kind=kind):
                before = self.dev.stats()
                t = aph_from_numpy(self.dev.handle, random_array(np.int32, (128,)))
                producer = AphArray(t)
                capsules = [producer.__dlpack__(max_version=max_version) for _ in range(3)]
                name = NAME_VERSIONED if kind == "versioned" else NAME_UNVERSIONED
                for c in capsules:
                    self.assertEqual(capi.PyCapsule_GetName(c), name)
                del c
                lib.aph_tensor_release(t)
                producer.tensor = None
                self.assertNotEqual(self.dev.stats(), before, "the capsules hold the memory")
                count = destructor_deletions[kind]
                del capsules[:2]
                gc.collect()
                self.assertEqual(destructor_deletions[kind], count + 2)
                self.assertNotEqual(self.dev.stats(), before, "the last capsule holds it")
                del capsules
                gc.collect()
                self.assertEqual(destructor_deletions[kind], count + 3)
                self.assertEqual(self.dev.stats(), before)

    def test_consumed_capsule_not_deleted_twice(self):
        # numpy renames the capsule; our destructor must then leave the deleter to numpy.
        t = aph_from_numpy(self.dev.handle, random_array(np.float32, (16,)))
        count = dict(destructor_deletions)
        arr, _ = self.export(t)
        gc.collect()
        self.assertEqual(destructor_deletions, count, "a consumed capsule is not deleted")
        lib.aph_tensor_release(t)
        del arr
        gc.collect()
        self.assertEqual(destructor_deletions, count)


# ---------------------------------------------------------------------------------------------
# numpy -> libaphelion
# ---------------------------------------------------------------------------------------------

IMPORT_DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64,
                 np.uint8, np.uint32, np.bool_]


class TestImportFromNumpy(AphTestCase):
    def import_capsule(self, capsule, versioned=True):
        """aph_tensor_from_dlpack(_unversioned) on a numpy capsule, renaming it on success."""
        name = NAME_VERSIONED if versioned else NAME_UNVERSIONED
        used = NAME_USED_VERSIONED if versioned else NAME_USED_UNVERSIONED
        self.assertEqual(capi.PyCapsule_GetName(capsule), name)
        ptr = capi.PyCapsule_GetPointer(capsule, name)
        self.assertTrue(ptr)
        out = P(SENTINEL)
        if versioned:
            managed = ctypes.cast(ptr, POINTER(DLManagedTensorVersioned))
            status = lib.aph_tensor_from_dlpack(managed, byref(out))
            fn = "aph_tensor_from_dlpack"
        else:
            managed = ctypes.cast(ptr, POINTER(DLManagedTensor))
            status = lib.aph_tensor_from_dlpack_unversioned(managed, byref(out))
            fn = "aph_tensor_from_dlpack_unversioned"
        if status != APH_OK:
            self.assertEqual(out.value, SENTINEL, f"{fn} wrote its out parameter on failure")
        if status == APH_OK:
            # We own the managed tensor now: numpy's capsule destructor must leave it alone.
            self.assertEqual(capi.PyCapsule_SetName(capsule, used), 0)
            return status, out.value, managed
        return status, None, managed

    def import_array(self, a, versioned=True):
        capsule = a.__dlpack__(max_version=(1, 0)) if versioned else a.__dlpack__()
        status, t, managed = self.import_capsule(capsule, versioned)
        fn = "aph_tensor_from_dlpack" + ("" if versioned else "_unversioned")
        check(status, f"{fn}({a.dtype}{list(a.shape)}, strides {a.strides})")
        return t, snapshot(managed.contents)

    def check_import(self, t, a, what):
        self.assertEqual(NP_DTYPES.get(lib.aph_tensor_dtype(t)), a.dtype, what)
        self.assertEqual(aph_shape(t), a.shape, what)
        self.assertEqual(lib.aph_tensor_numel(t), a.size, what)
        self.assertEqual(lib.aph_tensor_nbytes(t), a.nbytes, what)
        if a.size:
            self.assertEqual(lib.aph_tensor_data(t), data_ptr(a), f"{what}: zero copy")
            for s in a.strides:
                self.assertEqual(s % a.itemsize, 0)
            self.assertEqual(aph_strides(t), tuple(s // a.itemsize for s in a.strides), what)
        else:
            self.assertIsNone(lib.aph_tensor_data(t), f"{what}: zero-size data is NULL")
        self.assertArrayEqual(aph_to_numpy_copy(t), np.require(a, requirements="C"), what)

    def test_dtypes_versioned(self):
        for dtype in IMPORT_DTYPES:
            with self.subTest(dtype=np.dtype(dtype).name):
                a = random_array(dtype, (3, 5, 2))
                t, snap = self.import_array(a)
                self.assertEqual(snap["version"][0], 1)
                self.assertEqual(snap["flags"] & DLPACK_FLAG_BITMASK_READ_ONLY, 0)
                self.assertEqual(snap["dtype"], (DL_CODES[a.dtype.kind], 8 * a.itemsize, 1))
                self.check_import(t, a, f"versioned import of {a.dtype}")
                self.assertEqual(lib.aph_tensor_is_read_only(t), 0)
                new = random_array(dtype, a.shape)
                check(aph_write(t, new), "aph_tensor_copy_from_host")
                self.assertArrayEqual(a, new, "aph write seen by numpy")
                lib.aph_tensor_release(t)

    def test_views(self):
        base = random_array(np.float64, (6, 9))
        views = {
            "T": lambda b: b.T,
            "[:, ::2]": lambda b: b[:, ::2],
            "[1:, ::3].T": lambda b: b[1:, ::3].T,
            "[::2, 2:7]": lambda b: b[::2, 2:7],
            "[4]": lambda b: b[4],
            "[:, 3]": lambda b: b[:, 3],
            "[None, :, ::4]": lambda b: b[None, :, ::4],
        }
        for versioned in (True, False):
            for name, make in views.items():
                with self.subTest(view=name, versioned=versioned):
                    v = make(base)
                    t, _ = self.import_array(v, versioned)
                    self.check_import(t, v, f"import of base{name}")
                    new = random_array(np.float64, v.shape)
                    check(aph_write(t, new), "aph_tensor_copy_from_host")
                    self.assertArrayEqual(v, new, "aph write seen by the numpy view")
                    self.assertArrayEqual(make(base), new, "and by the base array")
                    lib.aph_tensor_release(t)

    def test_buffer_lifetime(self):
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                owner = random_array(np.float32, (40, 30))
                want = owner.copy()
                owner_ref = weakref.ref(owner)
                view = owner[3:, ::2].T
                view_ref = weakref.ref(view)
                t, _ = self.import_array(view, versioned)
                expect = np.ascontiguousarray(want[3:, ::2].T)
                del owner, view
                gc.collect()
                # numpy's managed tensor holds the exported array, which holds its base.
                self.assertIsNotNone(owner_ref(), "numpy buffer alive while the aph tensor is")
                self.assertIsNotNone(view_ref())
                self.assertArrayEqual(aph_to_numpy_copy(t), expect, "read after gc.collect()")
                new = random_array(np.float32, expect.shape)
                check(aph_write(t, new), "aph_tensor_copy_from_host")
                self.assertArrayEqual(aph_to_numpy_copy(t), new)
                self.assertArrayEqual(owner_ref()[3:, ::2].T, new)
                lib.aph_tensor_release(t)
                gc.collect()
                self.assertIsNone(view_ref(), "the exported view goes with the aph tensor")
                self.assertIsNone(owner_ref(), "the buffer goes with the aph tensor")

    def test_buffer_lifetime_shared_by_views(self):
        owner = random_array(np.int64, (8, 8))
        owner_ref = weakref.ref(owner)
        t, _ = self.import_array(owner)
        tt = aph_view(lib.aph_tensor_transpose, t, 0, 1)
        ts = aph_view(lib.aph_tensor_slice, tt, 0, 1, 8, 3)
        expect = owner.T[1:8:3].copy()
        del owner
        lib.aph_tensor_release(t)
        lib.aph_tensor_release(tt)
        gc.collect()
        self.assertIsNotNone(owner_ref(), "an aph view keeps the numpy buffer alive")
        self.assertEqual(lib.aph_tensor_data(ts), data_ptr(owner_ref().T[1:8:3]))
        self.assertArrayEqual(aph_to_numpy_copy(ts), expect)
        lib.aph_tensor_release(ts)
        gc.collect()
        self.assertIsNone(owner_ref())

    def test_unversioned(self):
        for dtype in IMPORT_DTYPES:
            with self.subTest(dtype=np.dtype(dtype).name):
                a = random_array(dtype, (4, 3))
                a_ref = weakref.ref(a)
                t, snap = self.import_array(a, versioned=False)
                self.assertNotIn("version", snap)
                self.check_import(t, a, f"unversioned import of {a.dtype}")
                new = random_array(dtype, a.shape)
                check(aph_write(t, new), "aph_tensor_copy_from_host")
                self.assertArrayEqual(a, new)
                del a
                gc.collect()
                self.assertIsNotNone(a_ref())
                lib.aph_tensor_release(t)
                gc.collect()
                self.assertIsNone(a_ref())

    def test_read_only(self):
        a = random_array(np.float32, (5, 6))
        a.flags.writeable = False
        want = a.copy()
        capsule = a.__dlpack__(max_version=(1, 0))
        status, t, managed = self.import_capsule(capsule)
        check(status, "aph_tensor_from_dlpack(read-only)")
        self.assertEqual(managed.contents.flags & DLPACK_FLAG_BITMASK_READ_ONLY,
                         DLPACK_FLAG_BITMASK_READ_ONLY, "numpy set READ_ONLY")
        self.assertEqual(lib.aph_tensor_is_read_only(t), 1)
        self.check_import(t, a, "read-only import")
        status = aph_write(t, random_array(np.float32, a.shape))
        self.assertNotEqual(status, APH_OK, "copy_from_host into a read-only tensor")
        self.assertIn("read-only", last_error())
        self.assertArrayEqual(a, want, "the read-only array is unchanged")
        # The legacy struct cannot say read-only, so numpy refuses to export it that way.
        with self.assertRaises(BufferError):
            a.__dlpack__()
        # Views keep the flag, and re-exporting tells numpy it is read-only.
        tt = aph_view(lib.aph_tensor_transpose, t, 0, 1)
        self.assertEqual(lib.aph_tensor_is_read_only(tt), 1)
        producer = AphArray(tt)
        arr = np.from_dlpack(producer)
        self.assertEqual(producer.exported[0][0], "versioned")
        self.assertEqual(producer.exported[0][1]["flags"], DLPACK_FLAG_BITMASK_READ_ONLY)
        self.assertFalse(arr.flags.writeable, "numpy honours READ_ONLY on the way back")
        self.assertEqual(data_ptr(arr), data_ptr(a.T))
        self.assertArrayEqual(arr, want.T)
        del arr, producer
        lib.aph_tensor_release(tt)
        lib.aph_tensor_release(t)

    def test_unsupported_dtype_rejected(self):
        # complex64: valid DLPack (kDLComplex, 64 bits) that libaphelion has no dtype for.
        for dtype, code in ((np.complex64, kDLComplex), (np.complex128, kDLComplex),
                            (np.uint16, kDLUInt), (np.uint64, kDLUInt)):
            for versioned in (True, False):
                with self.subTest(dtype=np.dtype(dtype).name, versioned=versioned):
                    if code == kDLComplex:
                        a = (random_array(np.float32, (3, 4))
                             + 1j * random_array(np.float32, (3, 4))).astype(dtype)
                    else:
                        a = rng.integers(1, 1000, size=(3, 4)).astype(dtype)
                    a_ref = weakref.ref(a)
                    capsule = a.__dlpack__(max_version=(1, 0)) if versioned else a.__dlpack__()
                    status, t, managed = self.import_capsule(capsule, versioned)
                    self.assertEqual(managed.contents.dl_tensor.dtype.code, code)
                    self.assertEqual(status, APH_ERR_NOT_IMPLEMENTED,
                                     f"{np.dtype(dtype).name} rejected: got "
                                     f"{status_text(status)}")
                    self.assertIsNone(t)
                    self.assertIn("has no libaphelion equivalent", last_error())
                    name = NAME_VERSIONED if versioned else NAME_UNVERSIONED
                    self.assertEqual(capi.PyCapsule_IsValid(capsule, name), 1,
                                     "the capsule stays unconsumed")
                    del a, managed
                    gc.collect()
                    self.assertIsNotNone(a_ref(), "numpy's capsule still holds the array")
                    del capsule  # numpy's destructor frees it normally
                    gc.collect()
                    self.assertIsNone(a_ref(), "numpy freed its unconsumed capsule")

    def test_zero_dim_and_zero_size(self):
        cases = [np.float32(rng.uniform(0.5, 2.0)), np.int64(rng.integers(1, 1 << 40)),
                 np.empty((0,), np.float32), np.empty((4, 0, 3), np.int32)]
        for versioned in (True, False):
            for i, c in enumerate(cases):
                a = np.array(c)  # a 0-dim array for the scalars
                with self.subTest(case=i, shape=a.shape, versioned=versioned):
                    a_ref = weakref.ref(a)
                    t, _ = self.import_array(a, versioned)
                    self.assertEqual(lib.aph_tensor_ndim(t), a.ndim)
                    self.check_import(t, a, f"import of {a.dtype}{list(a.shape)}")
                    if a.size:
                        new = np.array(a * 3)
                        check(aph_write(t, new), "aph_tensor_copy_from_host")
                        self.assertArrayEqual(a, new)
                    del a
                    gc.collect()
                    self.assertIsNotNone(a_ref())
                    lib.aph_tensor_release(t)
                    gc.collect()
                    self.assertIsNone(a_ref())

    def test_round_trip(self):
        # numpy -> aph -> numpy gives back numpy's own memory.
        a = random_array(np.int32, (7, 5))[::2]
        t, _ = self.import_array(a)
        back = np.from_dlpack(AphArray(t))
        self.assertEqual(data_ptr(back), data_ptr(a))
        self.assertEqual(back.strides, a.strides)
        back[...] = 7
        self.assertTrue(np.all(a == 7))
        lib.aph_tensor_release(t)
        a_ref = weakref.ref(a)
        del a
        gc.collect()
        self.assertIsNotNone(a_ref(), "held through aph by the second array")
        del back
        gc.collect()
        self.assertIsNone(a_ref())


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    print(f"seed was {SEED}")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
