#!/usr/bin/env python3
"""test_safetensors_python.py — safetensors files (header section 21) against the reference
implementation: Hugging Face's `safetensors` Python package (its Rust core) with numpy.

Usage: python3 tests/test_safetensors_python.py /path/to/libaphelion.so.0

 - reference writer -> libaphelion reader: every dtype numpy shares with both (f64 f32 f16 i64
   i32 i16 i8 u8 u32 bool), 0-dimensional and zero-size arrays, metadata; names, order, dtypes,
   shapes and values compared.
 - libaphelion writer -> reference reader (safetensors.numpy.load_file and safe_open), values and
   metadata compared; and the two writers produce the same bytes for the same tensors (metadata
   with at most one key: the reference writes a HashMap, whose order is random).
 - Differential fuzzing: single-byte corruptions of a valid file are accepted or rejected by both
   readers alike, except where libaphelion is stricter on purpose (a tensor name given twice, a
   dtype libaphelion lacks); libaphelion never accepts a file the reference rejects.

CPU only. Exits 77 (skipped) when numpy or safetensors cannot be imported (tools/dev.sh test
installs both from PyPI when it can). Random data comes from numpy.random.default_rng with a
printed seed (APH_TEST_SEED=<n> replays a run).
"""

import ctypes
import json
import os
import struct
import sys
import tempfile
import unittest
from ctypes import POINTER, byref, c_char_p, c_int, c_int32, c_int64, c_size_t, c_void_p

SKIP = 77

try:
    import numpy as np
    import safetensors
    from safetensors import safe_open
    from safetensors.numpy import load, load_file, save, save_file
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"SKIP: numpy and safetensors are needed ({exc})")
    sys.exit(SKIP)

if len(sys.argv) < 2:
    print(f"usage: {sys.argv[0]} /path/to/libaphelion.so.0", file=sys.stderr)
    sys.exit(2)
lib = ctypes.CDLL(sys.argv[1])

APH_OK = 0
APH_ERR_SERIALIZATION = 14
APH_DEVICE_CPU = 0
APH_DTYPES = {
    np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.float64): 3,
    np.dtype(np.uint8): 4, np.dtype(np.uint32): 5, np.dtype(np.int8): 6,
    np.dtype(np.int16): 7, np.dtype(np.int32): 8, np.dtype(np.int64): 9,
    np.dtype(np.bool_): 10,
}
NP_DTYPES = {v: k for k, v in APH_DTYPES.items()}
P = c_void_p


def _decl(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_decl("aph_status_name", c_char_p, c_int)
_decl("aph_last_error", c_char_p)
_decl("aph_string_free", None, c_void_p)
_decl("aph_device_open", c_int, c_int, c_int32, POINTER(P))
_decl("aph_device_release", None, P)
_decl("aph_tensor_from_host", c_int, P, c_int, POINTER(c_int64), c_size_t, c_void_p, c_size_t,
      POINTER(P))
_decl("aph_tensor_release", None, P)
_decl("aph_tensor_nbytes", ctypes.c_uint64, P)
_decl("aph_tensor_to_host", c_int, P, c_void_p, c_size_t)
_decl("aph_safetensors_open", c_int, c_char_p, POINTER(P))
_decl("aph_safetensors_release", None, P)
_decl("aph_safetensors_count", c_size_t, P)
_decl("aph_safetensors_name", c_char_p, P, c_size_t)
_decl("aph_safetensors_metadata", c_int, P, POINTER(c_void_p))
_decl("aph_safetensors_info", c_int, P, c_char_p, POINTER(c_int), POINTER(c_int64), c_size_t,
      POINTER(c_size_t))
_decl("aph_safetensors_tensor", c_int, P, c_char_p, P, POINTER(P))
_decl("aph_safetensors_save", c_int, c_char_p, POINTER(c_char_p), POINTER(P), c_size_t, c_char_p)


def last_error():
    return lib.aph_last_error().decode("utf-8", "replace")


def check(status, what):
    if status != APH_OK:
        raise AssertionError(f"{what} failed with {lib.aph_status_name(status).decode()}: {last_error()!r}")


CPU = P()
check(lib.aph_device_open(APH_DEVICE_CPU, 0, byref(CPU)), "aph_device_open")

SEED = int(os.environ.get("APH_TEST_SEED", "0")) or int.from_bytes(os.urandom(4), "little")
print(f"test_safetensors_python: safetensors {safetensors.__version__}, numpy {np.__version__}, "
      f"seed {SEED} (APH_TEST_SEED={SEED} replays)", flush=True)
rng = np.random.default_rng(SEED)


def random_array(dtype, shape):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind == "f":
        return rng.standard_normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def random_dict():
    """One array of every shared dtype, plus a 0-dimensional and a zero-size one."""
    out = {}
    for i, dtype in enumerate(APH_DTYPES):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
        out[f"layer.{i}.{dtype.name}"] = random_array(dtype, shape)
    out["scalar"] = random_array(np.float32, ())
    out["empty"] = random_array(np.int64, (0, 3))
    return out


class File:
    """An open aph_safetensors handle."""

    def __init__(self, path):
        self.h = P()
        check(lib.aph_safetensors_open(path.encode(), byref(self.h)), f"aph_safetensors_open({path})")

    def close(self):
        lib.aph_safetensors_release(self.h)

    def names(self):
        return [lib.aph_safetensors_name(self.h, i).decode()
                for i in range(lib.aph_safetensors_count(self.h))]

    def metadata(self):
        s = c_void_p()
        check(lib.aph_safetensors_metadata(self.h, byref(s)), "aph_safetensors_metadata")
        text = ctypes.string_at(s.value).decode()
        lib.aph_string_free(s)
        return json.loads(text)

    def array(self, name):
        dt = c_int()
        shape = (c_int64 * 16)()
        ndim = c_size_t()
        check(lib.aph_safetensors_info(self.h, name.encode(), byref(dt), shape, len(shape), byref(ndim)),
              "aph_safetensors_info")
        t = P()
        check(lib.aph_safetensors_tensor(self.h, name.encode(), CPU, byref(t)), "aph_safetensors_tensor")
        out = np.empty(tuple(shape[i] for i in range(ndim.value)), dtype=NP_DTYPES[dt.value])
        check(lib.aph_tensor_to_host(t, out.ctypes.data, out.nbytes), "aph_tensor_to_host")
        lib.aph_tensor_release(t)
        return out


def aph_save(path, arrays, metadata=None):
    names = list(arrays)
    handles = []
    try:
        for name in names:
            a = np.require(arrays[name], requirements="C")  # (ascontiguousarray makes 0-d 1-d)
            shape = (c_int64 * max(a.ndim, 1))(*a.shape)
            t = P()
            check(lib.aph_tensor_from_host(CPU, APH_DTYPES[a.dtype], shape, a.ndim,
                                           a.ctypes.data if a.nbytes else None, a.nbytes, byref(t)),
                  "aph_tensor_from_host")
            handles.append(t)
        c_names = (c_char_p * max(len(names), 1))(*[n.encode() for n in names])
        c_tensors = (P * max(len(names), 1))(*handles)
        meta = json.dumps(metadata).encode() if metadata is not None else None
        check(lib.aph_safetensors_save(path.encode(), c_names, c_tensors, len(names), meta),
              "aph_safetensors_save")
    finally:
        for t in handles:
            lib.aph_tensor_release(t)


def aph_accepts(data):
    """(accepted, status, message) for the bytes of a file."""
    path = os.path.join(TMP.name, "probe.safetensors")
    with open(path, "wb") as f:
        f.write(data)
    h = P()
    st = lib.aph_safetensors_open(path.encode(), byref(h))
    if st == APH_OK:
        lib.aph_safetensors_release(h)
        return True, st, ""
    return False, st, last_error()


def reference_accepts(data):
    try:
        loaded = load(bytes(data))
        return True, loaded
    except Exception as exc:  # the reference raises SafetensorError (and others for bad dtypes)
        return False, exc


TMP = tempfile.TemporaryDirectory(prefix="aph-safetensors-py-")


class ReferenceInterop(unittest.TestCase):
    def test_reference_writer_aphelion_reader(self):
        arrays = random_dict()
        path = os.path.join(TMP.name, "theirs.safetensors")
        meta = {"format": "np", "note": "é\n\"quoted\""}
        save_file(arrays, path, metadata=meta)
        f = File(path)
        try:
            with safe_open(path, "np") as ref:
                ref_names = list(ref.keys())
            self.assertEqual(sorted(f.names()), sorted(arrays))
            # Ours lists tensors in data order; the reference's offsets confirm it.
            header = json.loads(open(path, "rb").read()[8:8 + struct.unpack("<Q", open(path, "rb").read(8))[0]])
            by_offset = sorted((v["data_offsets"], k) for k, v in header.items() if k != "__metadata__")
            self.assertEqual(f.names(), [k for _, k in by_offset])
            self.assertEqual(sorted(ref_names), sorted(f.names()))
            self.assertEqual(f.metadata(), meta)
            for name, a in arrays.items():
                got = f.array(name)
                self.assertEqual(got.dtype, a.dtype, name)
                self.assertEqual(got.shape, a.shape, name)
                np.testing.assert_array_equal(got, a, err_msg=name)
        finally:
            f.close()

    def test_aphelion_writer_reference_reader(self):
        arrays = random_dict()
        path = os.path.join(TMP.name, "ours.safetensors")
        meta = {"b": "2", "a": "1", "unicode": "ünï"}
        aph_save(path, arrays, meta)
        loaded = load_file(path)
        self.assertEqual(sorted(loaded), sorted(arrays))
        for name, a in arrays.items():
            self.assertEqual(loaded[name].dtype, a.dtype, name)
            self.assertEqual(loaded[name].shape, a.shape, name)
            np.testing.assert_array_equal(loaded[name], a, err_msg=name)
        with safe_open(path, "np") as ref:
            self.assertEqual(ref.metadata(), meta)

    def test_same_bytes_as_reference_writer(self):
        for meta in (None, {}, {"format": "pt"}):
            arrays = random_dict()
            ours = os.path.join(TMP.name, "same_ours.safetensors")
            aph_save(ours, arrays, meta)
            theirs = save(arrays, metadata=meta)
            with open(ours, "rb") as fh:
                mine = fh.read()
            self.assertEqual(mine, theirs, f"metadata {meta}")

    def test_empty_file(self):
        path = os.path.join(TMP.name, "empty.safetensors")
        aph_save(path, {})
        self.assertEqual(load_file(path), {})
        save_file({}, path)
        f = File(path)
        self.assertEqual(f.names(), [])
        self.assertEqual(f.metadata(), {})
        f.close()


class DifferentialFuzz(unittest.TestCase):
    # Where libaphelion rejects on purpose what the reference accepts.
    STRICTER = ("twice", "not supported by libaphelion")

    def compare(self, data, what):
        ours, status, message = aph_accepts(data)
        theirs, detail = reference_accepts(data)
        if ours:
            self.assertTrue(theirs, f"{what}: libaphelion accepts a file the reference rejects ({detail})")
            return
        self.assertEqual(status, APH_ERR_SERIALIZATION, f"{what}: {message}")
        self.assertTrue(message.startswith("serialization error: "), message)
        if theirs:
            self.assertTrue(any(s in message for s in self.STRICTER),
                            f"{what}: the reference accepts a file libaphelion rejects: {message}")

    def test_single_byte_corruptions(self):
        arrays = {"w": random_array(np.float32, (3, 4)), "b": random_array(np.float16, (4,)),
                  "ids": random_array(np.int64, (2,)), "flag": random_array(np.bool_, (0,))}
        good = bytearray(save(arrays, metadata={"k": "v"}))
        n = struct.unpack("<Q", good[:8])[0]
        values = b"\x00\x01 \"',:-.019e[]{}\\FIU_\x7f\x80\xc3\xff"
        count = 0
        for pos in range(8 + n):
            for v in values:
                if good[pos] == v:
                    continue
                bad = bytearray(good)
                bad[pos] = v
                self.compare(bytes(bad), f"byte {pos} = {v:#04x}")
                count += 1
        # Random multi-byte corruptions and truncations too.
        for _ in range(2000):
            bad = bytearray(good)
            for _ in range(int(rng.integers(1, 4))):
                bad[int(rng.integers(0, 8 + n))] = int(rng.integers(0, 256))
            self.compare(bytes(bad), "random corruption")
        for length in range(len(good)):
            self.compare(bytes(good[:length]), f"truncated to {length}")
        self.assertGreater(count, 1000)

    def test_handwritten_cases(self):
        def mk(header, data=b""):
            h = header.encode() if isinstance(header, str) else header
            return struct.pack("<Q", len(h)) + h + data

        f32 = '"dtype":"F32","shape":[2],"data_offsets":'
        cases = [
            mk('{"a":{' + f32 + '[8,16]}}', b"\0" * 16),        # hole
            mk('{"a":{' + f32 + '[0,8]}}', b"\0" * 9),          # trailing byte
            mk('{"a":{' + f32 + '[0,8]},"b":{' + f32 + '[4,12]}}', b"\0" * 12),  # overlap
            mk('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'),
            mk('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', b"\0" * 8),
            mk('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}', b"\0" * 8),
            mk('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 8),
            mk('{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}', b"\0" * 8),
            mk('{"__metadata__":{"x":1}}'),
            mk('{"__metadata__":null}'),
            mk('[]'),
            mk(''),
            mk('{}\0\0\0\0\0\0'),
            mk('  {}  '),
            mk('{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}', b"\0" * 4),
            mk('{"a":{' + f32 + '[0,8]},"a":{' + f32 + '[0,8]}}', b"\0" * 8),
            mk('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'),
            struct.pack("<Q", 2 ** 64 - 1) + b"{}",
            b"\x02\0\0\0",
        ]
        for i, data in enumerate(cases):
            self.compare(data, f"case {i}")


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    print(f"seed was {SEED}")
    lib.aph_device_release(CPU)
    TMP.cleanup()
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
