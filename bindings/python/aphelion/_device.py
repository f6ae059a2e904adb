"""Devices, device configurations, trackers (budgets), streams and events."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from . import _generated as g
from ._generated import DeviceKind, DType
from ._handle import Handle, call_out
from ._lib import cstr, lib, shape_array


class Tracker(Handle):
    """A memory budget (aph_tracker): counts bytes against an optional limit; thread-safe."""

    __slots__ = ()
    _release_name = "aph_tracker_release"

    def __init__(self, limit_bytes: int = 0) -> None:
        super().__init__(call_out(lib.aph_tracker_create, int(limit_bytes)))

    @classmethod
    def _new_ref(cls, ptr: int) -> "Tracker":
        return cls._wrap(ptr)

    def allocate(self, nbytes: int) -> None:
        lib.aph_tracker_allocate(self._h, int(nbytes))

    def deallocate(self, nbytes: int) -> None:
        lib.aph_tracker_deallocate(self._h, int(nbytes))

    def would_fit(self, nbytes: int) -> bool:
        return bool(lib.aph_tracker_would_fit(self._h, int(nbytes)))

    @property
    def allocated_bytes(self) -> int:
        return lib.aph_tracker_allocated_bytes(self._h)

    @property
    def peak_bytes(self) -> int:
        return lib.aph_tracker_peak_bytes(self._h)

    @property
    def limit_bytes(self) -> int:
        return lib.aph_tracker_limit_bytes(self._h)

    @property
    def overhead_factor(self) -> float:
        return lib.aph_tracker_overhead_factor(self._h)

    @overhead_factor.setter
    def overhead_factor(self, factor: float) -> None:
        lib.aph_tracker_set_overhead_factor(self._h, float(factor))

    def reset(self) -> None:
        lib.aph_tracker_reset(self._h)

    def estimate_with_overhead(self, shape: Sequence[int], dtype: Union[str, DType]) -> int:
        from ._tensor import to_dtype

        arr, n = shape_array(shape)
        out = ctypes.c_uint64()
        lib.aph_tracker_estimate_with_overhead(self._h, arr, n, int(to_dtype(dtype)), ctypes.byref(out))
        return out.value

    def __repr__(self) -> str:
        if self.closed:
            return "Tracker(closed)"
        return f"Tracker(allocated={self.allocated_bytes}, peak={self.peak_bytes}, limit={self.limit_bytes})"


class DeviceConfig(Handle):
    """What Device.select() should pick (aph_device_config). Not thread-safe."""

    __slots__ = ()
    _release_name = "aph_device_config_release"

    def __init__(self, cuda_device: Optional[int] = None, force_cpu: Optional[bool] = None,
                 component: Optional[str] = None, from_env: bool = False) -> None:
        fn = lib.aph_device_config_from_env if from_env else lib.aph_device_config_create
        super().__init__(call_out(fn))
        if cuda_device is not None:
            self.cuda_device = cuda_device
        if force_cpu is not None:
            self.force_cpu = force_cpu
        if component is not None:
            self.component = component

    @property
    def cuda_device(self) -> int:
        return lib.aph_device_config_cuda_device(self._h)

    @cuda_device.setter
    def cuda_device(self, ordinal: int) -> None:
        lib.aph_device_config_set_cuda_device(self._h, int(ordinal))

    @property
    def force_cpu(self) -> bool:
        return bool(lib.aph_device_config_force_cpu(self._h))

    @force_cpu.setter
    def force_cpu(self, value: bool) -> None:
        lib.aph_device_config_set_force_cpu(self._h, int(bool(value)))

    @property
    def component(self) -> str:
        return lib.aph_device_config_component(self._h).decode()

    @component.setter
    def component(self, name: str) -> None:
        lib.aph_device_config_set_component(self._h, cstr(name))


@dataclass(frozen=True)
class CudaInfo:
    module_built: bool
    module_loaded: bool
    module_path: str
    driver_present: bool
    driver_version: int
    runtime_version: int
    device_count: int
    reason: str


def cuda_info() -> CudaInfo:
    """Whether CUDA is usable, and why not (aph_cuda_get_info)."""
    info = g.aph_cuda_info.new()
    lib.aph_cuda_get_info(ctypes.byref(info))
    dec = lambda b: (b or b"").decode()  # noqa: E731
    return CudaInfo(bool(info.module_built), bool(info.module_loaded), dec(info.module_path),
                    bool(info.driver_present), info.driver_version, info.runtime_version, info.device_count,
                    dec(info.reason))


def _parse_device(spec: str) -> Tuple[DeviceKind, int]:
    s = spec.strip().lower()
    kind, _, ordinal = s.partition(":")
    kinds = {"cpu": DeviceKind.CPU, "cuda": DeviceKind.CUDA}
    if kind not in kinds:
        raise ValueError(f"unknown device {spec!r} (expected 'cpu', 'cuda' or 'cuda:N')")
    try:
        n = int(ordinal) if ordinal else 0
    except ValueError:
        raise ValueError(f"bad device ordinal in {spec!r}") from None
    return kinds[kind], n


DeviceLike = Union["Device", str, None]


class Device(Handle):
    """One CPU or CUDA GPU (aph_device): Device("cpu"), Device("cuda:1"), Device.select().

    Opening the same device twice gives the same C handle, so devices compare equal by handle.
    Thread-safe."""

    __slots__ = ()
    _release_name = "aph_device_release"

    def __init__(self, spec: Union[str, "Device"] = "cpu", ordinal: Optional[int] = None) -> None:
        if isinstance(spec, Device):
            lib.aph_device_retain(spec._h)
            super().__init__(spec._h)
            return
        kind, n = _parse_device(spec)
        if ordinal is not None:
            n = ordinal
        super().__init__(call_out(lib.aph_device_open, int(kind), int(n)))

    @classmethod
    def select(cls, config: Optional[DeviceConfig] = None) -> "Device":
        """rust-ai-core's get_device(): forced CPU, else the configured CUDA device if usable, else
        the CPU with a once-per-process warning. config None reads the environment."""
        return cls._wrap(call_out(lib.aph_device_select, config._h if config is not None else None))

    @staticmethod
    def count(kind: Union[str, DeviceKind] = "cuda") -> int:
        k = _parse_device(kind)[0] if isinstance(kind, str) else DeviceKind(kind)
        out = ctypes.c_int32()
        lib.aph_device_count(int(k), ctypes.byref(out))
        return out.value

    @classmethod
    def _borrowed_ref(cls, ptr: int) -> "Device":
        """A new owned wrapper over a borrowed device pointer (takes its own reference)."""
        lib.aph_device_retain(ptr)
        return cls._wrap(ptr)

    @property
    def kind(self) -> DeviceKind:
        return DeviceKind(lib.aph_device_get_kind(self._h))

    @property
    def ordinal(self) -> int:
        return lib.aph_device_ordinal(self._h)

    @property
    def label(self) -> str:
        return lib.aph_device_label(self._h).decode()

    @property
    def name(self) -> str:
        return lib.aph_device_name(self._h).decode("utf-8", "replace")

    @property
    def is_cuda(self) -> bool:
        return self.kind == DeviceKind.CUDA

    def memory_info(self) -> Tuple[int, int]:
        """(free, total) bytes, measured now."""
        free, total = ctypes.c_uint64(), ctypes.c_uint64()
        lib.aph_device_memory_info(self._h, ctypes.byref(free), ctypes.byref(total))
        return free.value, total.value

    @property
    def total_memory(self) -> int:
        return lib.aph_device_total_memory(self._h)

    def compute_capability(self) -> Tuple[int, int]:
        a, b = ctypes.c_int32(), ctypes.c_int32()
        lib.aph_device_compute_capability(self._h, ctypes.byref(a), ctypes.byref(b))
        return a.value, b.value

    @property
    def multiprocessor_count(self) -> int:
        return lib.aph_device_multiprocessor_count(self._h)

    @property
    def logical_cores(self) -> int:
        return lib.aph_device_logical_cores(self._h)

    def warn_if_cpu(self, component: Optional[str] = None) -> None:
        lib.aph_warn_if_cpu(self._h, cstr(component))

    def synchronize(self) -> None:
        lib.aph_device_synchronize(self._h)

    @property
    def default_stream(self) -> "Stream":
        return Stream._borrowed_ref(lib.aph_device_default_stream(self._h))

    def memory_stats(self) -> Dict[str, int]:
        st = g.aph_memory_stats.new()
        lib.aph_device_memory_stats(self._h, ctypes.byref(st))
        return {name: getattr(st, name) for name, _ in g.aph_memory_stats._fields_ if name != "struct_size"}

    def reset_peak_stats(self) -> None:
        lib.aph_device_reset_peak_stats(self._h)

    def empty_cache(self) -> None:
        lib.aph_device_empty_cache(self._h)

    @property
    def tracker(self) -> Optional[Tracker]:
        out = ctypes.c_void_p()
        lib.aph_device_tracker(self._h, ctypes.byref(out))
        return Tracker._wrap(out.value) if out.value else None

    @tracker.setter
    def tracker(self, tracker: Optional[Tracker]) -> None:
        lib.aph_device_set_tracker(self._h, tracker._h if tracker is not None else None)

    def allocate(self, nbytes: int, stream: Optional["Stream"] = None) -> int:
        """Raw memory from the device's allocator (an address); give it back with free()."""
        out = ctypes.c_void_p()
        lib.aph_device_allocate(self._h, int(nbytes), stream._h if stream else None, ctypes.byref(out))
        return out.value or 0

    def free(self, address: int) -> None:
        lib.aph_device_free(self._h, address)

    def record_stream(self, address: int, stream: "Stream") -> None:
        lib.aph_device_record_stream(self._h, address, stream._h)

    def __repr__(self) -> str:
        return "Device(closed)" if self.closed else f"Device({self.label!r})"

    def __str__(self) -> str:
        return self.label


_cpu: Optional[Device] = None


def as_device(device: DeviceLike) -> Device:
    """None -> the CPU (one shared wrapper), strings -> Device(spec)."""
    global _cpu
    if device is None:
        if _cpu is None or _cpu.closed:
            _cpu = Device("cpu")
        return _cpu
    if isinstance(device, Device):
        return device
    return Device(device)


class Stream(Handle):
    """An in-order queue of work on one device (aph_stream). Stream(device) makes a new one; a
    CPU stream runs work inline. Thread-safe."""

    __slots__ = ()
    _release_name = "aph_stream_release"

    def __init__(self, device: DeviceLike = None) -> None:
        super().__init__(call_out(lib.aph_stream_create, as_device(device)))

    @classmethod
    def wrap_cuda(cls, device: Device, cuda_stream: Optional[int]) -> "Stream":
        """Wraps a caller's cudaStream_t (an integer address; None: the legacy default stream)
        without owning it (torch.cuda.Stream().cuda_stream, cupy's .ptr)."""
        return cls._wrap(call_out(lib.aph_stream_wrap_cuda, device._h, cuda_stream))

    @classmethod
    def _borrowed_ref(cls, ptr: int) -> "Stream":
        lib.aph_stream_retain(ptr)
        return cls._wrap(ptr)

    @property
    def device(self) -> Device:
        return Device._borrowed_ref(lib.aph_stream_device(self._h))

    @property
    def cuda_handle(self) -> Optional[int]:
        return lib.aph_stream_cuda_handle(self._h)

    def synchronize(self) -> None:
        lib.aph_stream_synchronize(self._h)

    def query(self) -> bool:
        """True when all queued work is done."""
        out = ctypes.c_int()
        lib.aph_stream_query(self._h, ctypes.byref(out))
        return bool(out.value)

    def wait_event(self, event: "Event") -> None:
        lib.aph_stream_wait_event(self._h, event._h)


class Event(Handle):
    """A marker in a stream (aph_event)."""

    __slots__ = ()
    _release_name = "aph_event_release"

    def __init__(self, device: DeviceLike = None) -> None:
        super().__init__(call_out(lib.aph_event_create, as_device(device)))

    def record(self, stream: Optional[Stream] = None) -> None:
        lib.aph_event_record(self._h, stream._h if stream else None)

    def synchronize(self) -> None:
        lib.aph_event_synchronize(self._h)

    def query(self) -> bool:
        out = ctypes.c_int()
        lib.aph_event_query(self._h, ctypes.byref(out))
        return bool(out.value)


def stream_arg(stream: Optional[Stream]) -> Optional[int]:
    return stream._h if stream is not None else None


def cpu_set_thread_limit(threads: int) -> None:
    """This thread's CPU worker count for eager operations (0: the process default)."""
    lib.aph_cpu_set_thread_limit(int(threads))


def cpu_get_thread_limit() -> int:
    return lib.aph_cpu_get_thread_limit()


def cpu_thread_count() -> int:
    return lib.aph_cpu_thread_count()


def estimate_tensor_bytes(shape: Sequence[int], dtype: Any) -> int:
    from ._tensor import to_dtype

    arr, n = shape_array(shape)
    out = ctypes.c_uint64()
    lib.aph_estimate_tensor_bytes(arr, n, int(to_dtype(dtype)), ctypes.byref(out))
    return out.value


def estimate_attention_bytes(batch: int, heads: int, seq_len: int, head_dim: int, dtype: Any) -> int:
    from ._tensor import to_dtype

    out = ctypes.c_uint64()
    lib.aph_estimate_attention_bytes(batch, heads, seq_len, head_dim, int(to_dtype(dtype)), ctypes.byref(out))
    return out.value
