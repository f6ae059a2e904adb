"""DLPack in both directions (header section 13).

Import (aphelion.from_dlpack): any object with __dlpack__ (numpy 2.x and 1.x, PyTorch, CuPy, JAX,
another aphelion.Tensor) or a bare capsule. The versioned capsule ("dltensor_versioned",
DLPack 1.x, with the READ_ONLY flag) is asked for first (max_version=(1, 1)); producers that do
not take max_version (numpy 1.x) give the unversioned "dltensor". aph_tensor_from_dlpack[_unversioned]
takes the struct; on success the capsule is renamed "used_dltensor[_versioned]" (so the
producer's capsule destructor leaves it alone) and the producer's deleter is called by the
library once the last tensor over the memory is gone. On failure the capsule is untouched.

Export (Tensor.__dlpack__): CPU tensors of numpy's dtypes are exported through a zero-copy numpy
view (numpy's capsule, whose destructor is C code), which holds its own reference to the
tensor; other tensors (bf16, fp8, CUDA, or numpy missing) through aph_tensor_to_dlpack /
aph_tensor_to_dlpack_unversioned in a capsule whose destructor calls the struct's deleter if no
consumer took it. (A capsule destructor written in Python, through ctypes, cannot run while an
exception is propagating without turning it into a SystemError; numpy's C destructor can, so
the common case goes through numpy. A capsule of the second kind dropped unconsumed during
exception propagation is still freed, but Python reports a SystemError.)
"""
from __future__ import annotations

import ctypes
from typing import Any, Optional, Tuple

from ._generated import DeviceKind, DType
from ._handle import Handle
from ._lib import lib

KDL_CPU, KDL_CUDA, KDL_CUDA_HOST, KDL_CUDA_MANAGED = 1, 2, 3, 13
READ_ONLY = 1


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p),
                ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]


_api = ctypes.pythonapi
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_void_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_void_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_void_p]
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]

# Capsule names must outlive the capsules: module-level buffers.
_NAME_V = ctypes.create_string_buffer(b"dltensor_versioned")
_NAME_U = ctypes.create_string_buffer(b"dltensor")
_USED_V = ctypes.create_string_buffer(b"used_dltensor_versioned")
_USED_U = ctypes.create_string_buffer(b"used_dltensor")

# Raw (GIL-holding) access for the capsule destructor, which gets a borrowed PyObject*.
_raw_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(("PyCapsule_IsValid", _api))
_raw_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)(("PyCapsule_GetPointer", _api))


def _call_deleter(managed: int, versioned: bool) -> None:
    st = (DLManagedTensorVersioned if versioned else DLManagedTensor).from_address(managed)
    if st.deleter:
        _DELETER(st.deleter)(managed)


def _capsule_destructor(capsule: int) -> None:
    try:
        for name, versioned in ((_NAME_V, True), (_NAME_U, False)):
            if _raw_is_valid(capsule, ctypes.addressof(name)):
                _call_deleter(_raw_get_pointer(capsule, ctypes.addressof(name)), versioned)
                return
    except BaseException:  # pragma: no cover - nothing may cross into C
        pass


_capsule_destructor_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_capsule_destructor)
_CAPSULE_DESTRUCTOR = ctypes.cast(_capsule_destructor_fn, ctypes.c_void_p).value


def device_tuple(t: Any) -> Tuple[int, int]:
    dev = lib.aph_tensor_device(t._h)
    kind = DeviceKind(lib.aph_device_get_kind(dev))
    if kind == DeviceKind.CPU:
        return (KDL_CPU, 0)
    return (KDL_CUDA, lib.aph_device_ordinal(dev))


def _sync_consumer_stream(t: Any, stream: Any) -> None:
    """CUDA: make the consumer's stream wait for the work queued on the default stream (where
    libaphelion's work on a tensor goes unless the caller used another)."""
    if stream is None or stream in (1, 2, -1):  # legacy / per-thread default: same order, or no sync asked
        return
    from ._device import Device, Event, Stream

    dev = t.device
    consumer = Stream.wrap_cuda(dev, int(stream))
    ev = Event(dev)
    ev.record(None)
    consumer.wait_event(ev)


def export_capsule(t: Any, stream: Any = None, max_version: Optional[Tuple[int, int]] = None,
                   dl_device: Optional[Tuple[int, int]] = None, copy: Optional[bool] = None) -> Any:
    own = device_tuple(t)
    if dl_device is not None and tuple(dl_device) != own:
        if copy is False:
            raise BufferError(f"the tensor is on {t.device.label}; dl_device {tuple(dl_device)} needs a copy")
        if tuple(dl_device)[0] != KDL_CPU:
            raise BufferError(f"cannot export to DLPack device {tuple(dl_device)}")
        t = t.to("cpu")
        own = device_tuple(t)
    elif copy:
        t = t.clone()
    versioned = max_version is not None and int(max_version[0]) >= 1
    if own[0] == KDL_CUDA:
        _sync_consumer_stream(t, stream)
    # The common case: numpy's exporter (C destructor) over a zero-copy view.
    from . import _tensor

    np = _tensor._np
    if own[0] == KDL_CPU and np is not None and t.dtype in _tensor._NP_TYPESTR:
        arr = t.numpy()
        if versioned:
            try:
                return arr.__dlpack__(max_version=(1, 1))
            except TypeError:  # numpy 1.x: no versioned capsules; fall through to ours
                pass
        else:
            if t.is_read_only:
                raise BufferError("a read-only tensor cannot be exported as an unversioned DLPack capsule, "
                                  "which cannot say read-only (ask for max_version=(1, 0) or copy it)")
            return arr.__dlpack__()
    out = ctypes.c_void_p()
    if versioned:
        lib.aph_tensor_to_dlpack(t._h, ctypes.byref(out))
        name = _NAME_V
    else:
        try:
            lib.aph_tensor_to_dlpack_unversioned(t._h, ctypes.byref(out))
        except ValueError as e:  # InvalidArgumentError: read-only
            raise BufferError(str(e)) from e
        name = _NAME_U
    try:
        return _api.PyCapsule_New(out.value, ctypes.addressof(name), _CAPSULE_DESTRUCTOR)
    except BaseException:
        _call_deleter(out.value, versioned)  # type: ignore[arg-type]
        raise


def _capsule_from(obj: Any) -> Any:
    if type(obj).__name__ == "PyCapsule":
        return obj
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"{type(obj).__name__} does not support DLPack (no __dlpack__)")
    stream = None
    if hasattr(obj, "__dlpack_device__"):
        dev_type, _ = obj.__dlpack_device__()
        if int(dev_type) in (KDL_CUDA, KDL_CUDA_MANAGED):
            stream = 1  # the legacy default stream: libaphelion's default stream on CUDA
    try:
        return obj.__dlpack__(stream=stream, max_version=(1, 1))
    except TypeError:  # a producer without max_version (numpy 1.x, older libraries)
        return obj.__dlpack__(stream=stream)


def from_dlpack(obj: Any) -> Any:
    """A tensor sharing the memory of obj (anything with __dlpack__, or a DLPack capsule), no
    copy: numpy arrays, PyTorch tensors (CPU and CUDA), CuPy, JAX, aphelion tensors. Read-only
    producers (a read-only numpy array) give read-only tensors."""
    from ._tensor import Tensor

    capsule = _capsule_from(obj)
    out = ctypes.c_void_p()
    if _api.PyCapsule_IsValid(capsule, ctypes.addressof(_NAME_V)):
        ptr = _api.PyCapsule_GetPointer(capsule, ctypes.addressof(_NAME_V))
        lib.aph_tensor_from_dlpack(ptr, ctypes.byref(out))
        _api.PyCapsule_SetName(capsule, ctypes.addressof(_USED_V))
    elif _api.PyCapsule_IsValid(capsule, ctypes.addressof(_NAME_U)):
        ptr = _api.PyCapsule_GetPointer(capsule, ctypes.addressof(_NAME_U))
        lib.aph_tensor_from_dlpack_unversioned(ptr, ctypes.byref(out))
        _api.PyCapsule_SetName(capsule, ctypes.addressof(_USED_U))
    else:
        raise ValueError("not a DLPack capsule (or one already consumed)")
    return Tensor._wrap(out.value)
