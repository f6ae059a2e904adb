"""Tensors: dtype, shape, strides, device, zero-copy numpy views, views, copies, DLPack."""
from __future__ import annotations

import ctypes
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _generated as g
from ._device import Device, DeviceLike, Stream, as_device, stream_arg
from ._generated import DeviceKind, DType
from ._handle import Handle, call_out
from ._lib import cstr, lib, shape_array

try:  # numpy is optional: without it numpy() and from_numpy() are unavailable
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None  # type: ignore[assignment]

DTypeLike = Union[DType, str, int, Any]

# dtype <-> numpy type string (little-endian; the library's data is native little-endian)
_NP_TYPESTR = {
    DType.F32: "<f4", DType.F16: "<f2", DType.F64: "<f8", DType.U8: "|u1", DType.U32: "<u4", DType.I8: "|i1",
    DType.I16: "<i2", DType.I32: "<i4", DType.I64: "<i8", DType.BOOL: "|b1",
}
_FROM_NP = {v[1:]: k for k, v in _NP_TYPESTR.items()}


def dtype_name(dtype: DTypeLike) -> str:
    return lib.aph_dtype_name(int(to_dtype(dtype))).decode()


def to_dtype(dtype: DTypeLike) -> DType:
    """A DType from a DType, an int, a name or alias ("f32", "float16", "int64"...) or a numpy
    dtype / type (np.float32)."""
    if isinstance(dtype, DType):
        return dtype
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        return DType(dtype)
    if isinstance(dtype, str):
        out = ctypes.c_int()
        lib.aph_dtype_from_name(dtype.encode(), ctypes.byref(out))
        return DType(out.value)
    if _np is not None:
        try:
            nd = _np.dtype(dtype)
        except TypeError:
            nd = None
        if nd is not None:
            key = nd.str[1:]
            if key in _FROM_NP:
                return _FROM_NP[key]
            raise TypeError(f"numpy dtype {nd} has no libaphelion dtype")
    raise TypeError(f"not a dtype: {dtype!r}")


def dtype_size(dtype: DTypeLike) -> int:
    return lib.aph_dtype_size(int(to_dtype(dtype)))


class _Deleters:
    """Keeps Python objects alive while the library uses their memory (aph_tensor_from_blob),
    and counts the deleter calls (tests use the count)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.alive: Dict[int, Any] = {}
        self.next = 1
        self.calls = 0

    def keep(self, obj: Any) -> int:
        with self.lock:
            key = self.next
            self.next += 1
            self.alive[key] = obj
            return key

    def drop(self, key: Optional[int]) -> None:
        with self.lock:
            self.calls += 1
            self.alive.pop(key or 0, None)


_deleters = _Deleters()


def _blob_deleter(user_data: Optional[int], data: Optional[int]) -> None:
    try:
        _deleters.drop(user_data)
    except BaseException:  # pragma: no cover - nothing may cross into C
        pass


_blob_deleter_fn = g.aph_deleter(_blob_deleter)


def deleter_stats() -> Tuple[int, int]:
    """(deleter calls so far, Python objects still kept alive for the library)."""
    with _deleters.lock:
        return _deleters.calls, len(_deleters.alive)


class _ArrayView:
    """What a numpy view of a tensor keeps alive: its own C reference to the tensor, so closing
    or collecting the Tensor wrapper never frees memory numpy still points at."""

    __slots__ = ("__array_interface__", "_ref", "__weakref__")

    def __init__(self, t: "Tensor", interface: Dict[str, Any]) -> None:
        lib.aph_tensor_retain(t._h)
        self._ref = t._h
        self.__array_interface__ = interface

    def __del__(self) -> None:
        ref, self._ref = self._ref, None
        if ref:
            lib.aph_tensor_release(ref)


class Tensor(Handle):
    """A libaphelion tensor (aph_tensor): a strided view of reference-counted storage on a device.

    Make one with aphelion.tensor(data) (a copy), aphelion.from_numpy(array) (zero-copy),
    aphelion.from_dlpack(obj) (zero-copy), aphelion.empty/zeros(shape), or get one from an
    operation or an executor. Metadata never changes, so a tensor may be read from any thread."""

    __slots__ = ()
    _release_name = "aph_tensor_release"

    def __init__(self, data: Any, dtype: Optional[DTypeLike] = None, device: DeviceLike = None) -> None:
        """aphelion.Tensor(data) is aphelion.tensor(data): a copy of data."""
        t = tensor(data, dtype=dtype, device=device)
        lib.aph_tensor_retain(t._h)
        super().__init__(t._h)

    # ---- metadata
    @property
    def dtype(self) -> DType:
        return DType(lib.aph_tensor_dtype(self._h))

    @property
    def ndim(self) -> int:
        return lib.aph_tensor_ndim(self._h)

    @property
    def shape(self) -> Tuple[int, ...]:
        h = self._h
        n = lib.aph_tensor_ndim(h)
        p = lib.aph_tensor_shape(h)
        return tuple(p[i] for i in range(n))

    @property
    def strides(self) -> Tuple[int, ...]:
        """In elements (numpy's are in bytes)."""
        h = self._h
        n = lib.aph_tensor_ndim(h)
        p = lib.aph_tensor_strides(h)
        return tuple(p[i] for i in range(n))

    @property
    def numel(self) -> int:
        return lib.aph_tensor_numel(self._h)

    def __len__(self) -> int:
        s = self.shape
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]

    @property
    def nbytes(self) -> int:
        return lib.aph_tensor_nbytes(self._h)

    @property
    def itemsize(self) -> int:
        return dtype_size(self.dtype)

    @property
    def byte_offset(self) -> int:
        return lib.aph_tensor_byte_offset(self._h)

    @property
    def data_ptr(self) -> int:
        """Address of the first element (0 for a zero-size tensor); for reading."""
        return lib.aph_tensor_data(self._h) or 0

    def data_ptr_mut(self) -> int:
        """Address of the first element for writing; InvalidArgumentError for read-only tensors."""
        out = ctypes.c_void_p()
        lib.aph_tensor_data_mut(self._h, ctypes.byref(out))
        return out.value or 0

    @property
    def device(self) -> Device:
        return Device._borrowed_ref(lib.aph_tensor_device(self._h))

    @property
    def is_contiguous(self) -> bool:
        return bool(lib.aph_tensor_is_contiguous(self._h))

    @property
    def is_read_only(self) -> bool:
        return bool(lib.aph_tensor_is_read_only(self._h))

    def shares_storage(self, other: "Tensor") -> bool:
        return bool(lib.aph_tensor_shares_storage(self._h, other._h))

    def __repr__(self) -> str:
        if self.closed:
            return "Tensor(closed)"
        ro = ", read_only" if self.is_read_only else ""
        return f"Tensor(shape={list(self.shape)}, dtype={dtype_name(self.dtype)}, device={self.device.label!r}{ro})"

    # ---- numpy
    def _array_interface(self) -> Dict[str, Any]:
        h = self._h
        dt = self.dtype
        if dt not in _NP_TYPESTR:
            raise TypeError(f"a {dtype_name(dt)} tensor has no numpy dtype (cast it, or use torch.from_dlpack)")
        if DeviceKind(lib.aph_device_get_kind(lib.aph_tensor_device(h))) != DeviceKind.CPU:
            raise TypeError(f"numpy views need a CPU tensor; this one is on {self.device.label} (use to('cpu'))")
        item = lib.aph_dtype_size(int(dt))
        ptr = lib.aph_tensor_data(h) or 0
        shape = self.shape
        return {
            "version": 3,
            "shape": shape,
            "typestr": _NP_TYPESTR[dt],
            "strides": tuple(s * item for s in self.strides),
            "data": (ptr, bool(lib.aph_tensor_is_read_only(h))),
        }

    def numpy(self) -> Any:
        """A numpy array over the tensor's memory (no copy), for CPU tensors of numpy's dtypes,
        with the tensor's strides; read-only when the tensor is. It keeps the memory alive."""
        if _np is None:
            raise ImportError("numpy is not installed")
        iface = self._array_interface()
        if self.numel == 0:
            arr = _np.empty(iface["shape"], dtype=iface["typestr"])
            if iface["data"][1]:
                arr.flags.writeable = False
            return arr
        return _np.asarray(_ArrayView(self, iface))

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> Any:
        if copy:
            arr = self.numpy().copy()
        else:
            arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def tolist(self) -> Any:
        return self.to_numpy().tolist()

    def to_numpy(self) -> Any:
        """A numpy copy (any device; contiguous)."""
        if _np is None:
            raise ImportError("numpy is not installed")
        dt = self.dtype
        if dt not in _NP_TYPESTR:
            raise TypeError(f"a {dtype_name(dt)} tensor has no numpy dtype")
        arr = _np.empty(self.shape, dtype=_NP_TYPESTR[dt])
        if arr.nbytes:
            lib.aph_tensor_to_host(self._h, arr.ctypes.data, arr.nbytes)
        return arr

    def item(self) -> Any:
        if self.numel != 1:
            raise ValueError("item() needs a tensor with one element")
        return self.to_numpy().reshape(()).item()

    # ---- copies and views
    def copy_from(self, src: Union["Tensor", Any]) -> "Tensor":
        """Copies src (a tensor, or host data with the same number of bytes) into this tensor."""
        if isinstance(src, Tensor):
            lib.aph_tensor_copy(self._h, src._h)
        else:
            arr = _np.ascontiguousarray(src, dtype=_NP_TYPESTR.get(self.dtype))
            lib.aph_tensor_copy_from_host(self._h, arr.ctypes.data, arr.nbytes)
        return self

    copy_ = copy_from

    def copy_to_host_async(self, dst: Any, stream: Optional[Stream] = None) -> Any:
        """Queues a copy of the elements (row-major) into dst, a writable C-contiguous numpy
        array of nbytes bytes, which must stay alive until the stream reaches it."""
        if not (dst.flags.c_contiguous and dst.flags.writeable):
            raise ValueError("dst must be a writable C-contiguous array")
        lib.aph_tensor_to_host_async(self._h, dst.ctypes.data, dst.nbytes, stream_arg(stream))
        return dst

    def copy_from_host_async(self, src: Any, stream: Optional[Stream] = None) -> "Tensor":
        """Queues a copy of host data (row-major, nbytes bytes) into this tensor; src may be
        reused when the call returns (staged)."""
        arr = _np.ascontiguousarray(src, dtype=_NP_TYPESTR.get(self.dtype))
        lib.aph_tensor_copy_from_host_async(self._h, arr.ctypes.data, arr.nbytes, stream_arg(stream))
        return self

    def copy_async(self, src: "Tensor", stream: Optional[Stream] = None) -> "Tensor":
        lib.aph_tensor_copy_async(self._h, src._h, stream_arg(stream))
        return self

    def to(self, device: DeviceLike) -> "Tensor":
        """A contiguous copy on device (a new tensor even on the same device)."""
        return Tensor._wrap(call_out(lib.aph_tensor_to_device, self._h, as_device(device)))

    to_device = to

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def clone(self) -> "Tensor":
        return self.to(self.device)

    def contiguous(self) -> "Tensor":
        return Tensor._wrap(call_out(lib.aph_tensor_contiguous, self._h))

    def record_stream(self, stream: Stream) -> None:
        lib.aph_tensor_record_stream(self._h, stream._h)

    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        arr, n = shape_array(shape)
        return Tensor._wrap(call_out(lib.aph_tensor_reshape, self._h, arr, n))

    view = reshape

    def permute(self, *dims: Any) -> "Tensor":
        if len(dims) == 1 and not isinstance(dims[0], int):
            dims = tuple(dims[0])
        arr, n = shape_array(dims)
        return Tensor._wrap(call_out(lib.aph_tensor_permute, self._h, arr, n))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> "Tensor":
        return Tensor._wrap(call_out(lib.aph_tensor_transpose, self._h, dim0, dim1))

    @property
    def T(self) -> "Tensor":  # noqa: N802
        return self.permute(list(range(self.ndim))[::-1])

    def slice(self, dim: int, start: int = 0, stop: Optional[int] = None, step: int = 1) -> "Tensor":
        if stop is None:
            stop = 2**62
        return Tensor._wrap(call_out(lib.aph_tensor_slice, self._h, dim, start, stop, step))

    def narrow(self, dim: int, start: int, length: int) -> "Tensor":
        return Tensor._wrap(call_out(lib.aph_tensor_narrow, self._h, dim, start, length))

    def select(self, dim: int, index: int) -> "Tensor":
        return Tensor._wrap(call_out(lib.aph_tensor_select, self._h, dim, index))

    def expand(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        arr, n = shape_array(shape)
        return Tensor._wrap(call_out(lib.aph_tensor_expand, self._h, arr, n))

    def __getitem__(self, key: Any) -> "Tensor":
        """Basic indexing with ints and slices (views): t[0], t[:, 1:3], t[..., ::2]."""
        if not isinstance(key, tuple):
            key = (key,)
        if Ellipsis in key:
            i = key.index(Ellipsis)
            fill = self.ndim - (len(key) - 1)
            key = key[:i] + (slice(None),) * fill + key[i + 1:]
        t = self
        dim = 0
        for k in key:
            if isinstance(k, int):
                t = t.select(dim, k)
            elif isinstance(k, slice):
                if k.step is not None and k.step < 1:
                    raise ValueError("slice steps must be >= 1")
                t = t.slice(dim, 0 if k.start is None else k.start, k.stop, 1 if k.step is None else k.step)
                dim += 1
            else:
                raise TypeError(f"unsupported index {k!r} (ints, slices and ... only)")
        return t

    # ---- operators (eager operations on new tensors)
    def __add__(self, o: Any) -> "Tensor":
        from . import ops

        return ops.add(self, o)

    def __sub__(self, o: Any) -> "Tensor":
        from . import ops

        return ops.sub(self, o)

    def __mul__(self, o: Any) -> "Tensor":
        from . import ops

        return ops.mul(self, o)

    def __truediv__(self, o: Any) -> "Tensor":
        from . import ops

        return ops.div(self, o)

    def __matmul__(self, o: "Tensor") -> "Tensor":
        from . import ops

        return ops.matmul(self, o)

    def __neg__(self) -> "Tensor":
        from . import ops

        return ops.neg(self)

    __radd__ = __add__
    __rmul__ = __mul__

    # ---- DLPack
    def __dlpack__(self, *, stream: Any = None, max_version: Optional[Tuple[int, int]] = None,
                   dl_device: Optional[Tuple[int, int]] = None, copy: Optional[bool] = None) -> Any:
        from ._dlpack import export_capsule

        return export_capsule(self, stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self) -> Tuple[int, int]:
        from ._dlpack import device_tuple

        return device_tuple(self)


# ---------------------------------------------------------------------------------------------
# Construction


def empty(shape: Sequence[int], dtype: DTypeLike = DType.F32, device: DeviceLike = None,
          stream: Optional[Stream] = None) -> Tensor:
    """A new contiguous tensor with uninitialised memory."""
    arr, n = shape_array(shape)
    if stream is not None:
        return Tensor._wrap(call_out(lib.aph_tensor_create_on_stream, as_device(device), int(to_dtype(dtype)),
                                     arr, n, stream._h))
    return Tensor._wrap(call_out(lib.aph_tensor_create, as_device(device), int(to_dtype(dtype)), arr, n))


def zeros(shape: Sequence[int], dtype: DTypeLike = DType.F32, device: DeviceLike = None) -> Tensor:
    arr, n = shape_array(shape)
    return Tensor._wrap(call_out(lib.aph_tensor_zeros, as_device(device), int(to_dtype(dtype)), arr, n))


def tensor(data: Any, dtype: Optional[DTypeLike] = None, device: DeviceLike = None) -> Tensor:
    """A new tensor holding a copy of data: a numpy array, anything numpy.asarray takes (nested
    sequences, scalars), an object with __dlpack__, or a Tensor. dtype defaults to the data's
    (Python floats become f32, ints i64)."""
    dev = as_device(device)
    if isinstance(data, Tensor):
        t = data.to(dev)
        if dtype is not None and to_dtype(dtype) != t.dtype:
            from . import ops

            t = ops.cast(t, dtype)
        return t
    if _np is None:
        return _tensor_from_sequence(data, dtype, dev)
    if not isinstance(data, _np.ndarray) and hasattr(data, "__dlpack__"):
        data = _np.from_dlpack(data)
    want = to_dtype(dtype) if dtype is not None else None
    if want is not None and want not in _NP_TYPESTR:
        src = tensor(data, device=dev)
        from . import ops

        return ops.cast(src, want)
    if want is not None:
        arr = _np.asarray(data, dtype=_NP_TYPESTR[want])
    else:
        arr = _np.asarray(data)
        if arr.dtype == _np.float64 and not isinstance(data, _np.ndarray):
            arr = arr.astype(_np.float32)  # Python floats: f32, as torch.tensor
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    dt = to_dtype(arr.dtype)
    shape, n = shape_array(arr.shape)
    return Tensor._wrap(call_out(lib.aph_tensor_from_host, dev._h, int(dt), shape, n,
                                 arr.ctypes.data if arr.nbytes else None, arr.nbytes))


def _tensor_from_sequence(data: Any, dtype: Optional[DTypeLike], dev: Device) -> Tensor:
    """Without numpy: nested lists of numbers through the struct module."""
    import struct

    shape: List[int] = []
    x = data
    while isinstance(x, (list, tuple)):
        shape.append(len(x))
        x = x[0] if x else 0
    flat: List[Any] = []

    def walk(v: Any, depth: int) -> None:
        if depth == len(shape):
            flat.append(v)
            return
        if len(v) != shape[depth]:
            raise ValueError("ragged nested sequence")
        for e in v:
            walk(e, depth + 1)

    walk(data, 0)
    if dtype is None:
        dt = DType.I64 if all(isinstance(v, int) and not isinstance(v, bool) for v in flat) and flat else DType.F32
    else:
        dt = to_dtype(dtype)
    fmt = {DType.F32: "f", DType.F64: "d", DType.I64: "q", DType.I32: "i", DType.U8: "B", DType.I8: "b",
           DType.I16: "h", DType.U32: "I", DType.BOOL: "?", DType.F16: "e"}[dt]
    buf = struct.pack("<%d%s" % (len(flat), fmt), *flat)
    arr, n = shape_array(shape)
    return Tensor._wrap(call_out(lib.aph_tensor_from_host, dev._h, int(dt), arr, n, buf, len(buf)))


def from_numpy(array: Any) -> Tensor:
    """A CPU tensor over a numpy array's memory, without a copy (aph_tensor_from_blob): writes on
    either side show on the other, and the array stays alive until the library's deleter runs
    (after the last tensor over it is released). Read-only arrays become read-only tensors (via
    DLPack, which carries the flag). Negative or non-element-multiple strides are refused
    (ValueError): copy with aphelion.tensor(array) then."""
    if _np is None:
        raise ImportError("numpy is not installed")
    if not isinstance(array, _np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    if not array.flags.writeable:
        from ._dlpack import from_dlpack

        return from_dlpack(array)
    dt = to_dtype(array.dtype)
    item = array.itemsize
    if any(s < 0 or s % item for s in array.strides):
        raise ValueError("from_numpy: negative or misaligned strides cannot be shared (use aphelion.tensor to copy)")
    if not array.dtype.isnative:
        raise ValueError("from_numpy: byte-swapped arrays cannot be shared")
    shape, n = shape_array(array.shape)
    strides, _ = shape_array([s // item for s in array.strides])
    key = _deleters.keep(array)
    out = ctypes.c_void_p()
    try:
        lib.aph_tensor_from_blob(as_device(None), int(dt), shape, strides, n,
                                 array.ctypes.data if array.size else None, _blob_deleter_fn, key, ctypes.byref(out))
    except BaseException:
        with _deleters.lock:  # on failure the caller keeps ownership: the deleter is not called
            _deleters.alive.pop(key, None)
        raise
    return Tensor._wrap(out.value)  # type: ignore[arg-type]


def from_blob(address: int, shape: Sequence[int], dtype: DTypeLike, strides: Optional[Sequence[int]] = None,
              device: DeviceLike = None, owner: Any = None) -> Tensor:
    """A tensor over memory at address (host memory for the CPU, device memory for CUDA) without
    a copy; owner (any object) is kept alive until the library's deleter runs."""
    dev = as_device(device)
    shp, n = shape_array(shape)
    st = shape_array(strides)[0] if strides is not None else None
    key = _deleters.keep(owner)
    out = ctypes.c_void_p()
    try:
        lib.aph_tensor_from_blob(dev._h, int(to_dtype(dtype)), shp, st, n, address or None, _blob_deleter_fn, key,
                                 ctypes.byref(out))
    except BaseException:
        with _deleters.lock:
            _deleters.alive.pop(key, None)
        raise
    return Tensor._wrap(out.value)  # type: ignore[arg-type]


def as_tensor(x: Any, device: DeviceLike = None, dtype: Optional[DTypeLike] = None) -> Tensor:
    """x itself when it is a Tensor; a numpy array without a copy (from_numpy) when it can be
    shared; otherwise a copy."""
    if isinstance(x, Tensor):
        return x
    if _np is not None and isinstance(x, _np.ndarray) and (device is None or as_device(device).kind == DeviceKind.CPU):
        if dtype is None or to_dtype(dtype) == to_dtype(x.dtype):
            try:
                return from_numpy(x)
            except (ValueError, TypeError):
                pass
    return tensor(x, dtype=dtype, device=device)
