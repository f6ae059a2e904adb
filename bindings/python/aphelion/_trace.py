"""Trace sinks (section 18), pipelines (section 19) and logging into the `logging` module (section 3)."""
from __future__ import annotations

import ctypes
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Union

from . import _generated as g
from ._device import Device, DeviceLike, Tracker, as_device
from ._generated import LogLevel, LogPreset, TraceLevel
from ._graph import Graph, PathLike
from ._handle import Handle, call_out
from ._lib import cstr, destroy_fn, guard, lib, lookup, register, report_exception, take_string, unregister
from ._tensor import Tensor, as_tensor


@dataclass(frozen=True)
class TraceEvent:
    id: str
    message: str
    timestamp: float
    level: TraceLevel
    span_id: Optional[str] = None
    trace_id: Optional[str] = None


@dataclass(frozen=True)
class TraceSpan:
    name: str
    category: str
    start_ns: int
    duration_ns: int
    device: Optional[str] = None
    bytes: int = 0
    args: Optional[dict] = None


def _s(b: Optional[bytes]) -> Optional[str]:
    return None if b is None else b.decode("utf-8", "replace")


def _event(e: Any) -> TraceEvent:
    return TraceEvent(_s(e.id) or "", _s(e.message) or "", e.timestamp, TraceLevel(e.level), _s(e.span_id),
                      _s(e.trace_id))


def _span(s: Any) -> TraceSpan:
    return TraceSpan(_s(s.name) or "", _s(s.category) or "", s.start_ns, s.duration_ns, _s(s.device), s.bytes,
                     json.loads(s.args_json) if s.args_json else None)


def _level(level: Union[TraceLevel, str, int]) -> int:
    if isinstance(level, str):
        return int(TraceLevel[level.upper()])
    return int(level)


@guard
def _on_event(user_data: Optional[int], event: Any) -> None:
    cb = lookup(user_data)
    if cb is not None and cb[0] is not None:
        cb[0](_event(event.contents))


@guard
def _on_span(user_data: Optional[int], span: Any) -> None:
    cb = lookup(user_data)
    if cb is not None and cb[1] is not None:
        cb[1](_span(span.contents))


_on_event_fn = g.aph_trace_event_fn(_on_event)
_on_span_fn = g.aph_trace_span_fn(_on_span)


class TraceSink(Handle):
    """Receives trace events and spans (aph_trace_sink); thread-safe. TraceSink() is an in-memory
    sink; TraceSink.filter / fanout / callback make the others."""

    __slots__ = ()
    _release_name = "aph_trace_sink_release"

    def __init__(self) -> None:
        super().__init__(call_out(lib.aph_trace_sink_memory))

    memory = classmethod(lambda cls: cls())

    @classmethod
    def filter(cls, inner: "TraceSink", min_level: Union[TraceLevel, str]) -> "TraceSink":
        return cls._wrap(call_out(lib.aph_trace_sink_filter, inner._h, _level(min_level)))

    @classmethod
    def fanout(cls, sinks: Sequence["TraceSink"]) -> "TraceSink":
        arr = (ctypes.c_void_p * max(len(sinks), 1))(*[s._h for s in sinks])
        return cls._wrap(call_out(lib.aph_trace_sink_fanout, arr, len(sinks)))

    @classmethod
    def callback(cls, on_event: Callable[[TraceEvent], None],
                 on_span: Optional[Callable[[TraceSpan], None]] = None) -> "TraceSink":
        """Calls on_event / on_span from the recording thread (possibly several at once).
        Exceptions they raise are reported through sys.unraisablehook."""
        key = register((on_event, on_span))
        try:
            return cls._wrap(call_out(lib.aph_trace_sink_callback, _on_event_fn, _on_span_fn if on_span else None,
                                      key, destroy_fn))
        except BaseException:
            unregister(key)
            raise

    @classmethod
    def _borrowed_ref(cls, ptr: int) -> "TraceSink":
        lib.aph_trace_sink_retain(ptr)
        return cls._wrap(ptr)

    def record(self, id: str, message: str, level: Union[TraceLevel, str] = TraceLevel.INFO,  # noqa: A002
               timestamp: float = 0.0, span_id: Optional[str] = None, trace_id: Optional[str] = None) -> None:
        ev = g.aph_trace_event.new(id=cstr(id), message=cstr(message), timestamp=float(timestamp),
                                   level=_level(level), span_id=cstr(span_id), trace_id=cstr(trace_id))
        lib.aph_trace_sink_record(self._h, ctypes.byref(ev))

    def record_span(self, name: str, category: str, start_ns: int, duration_ns: int, device: Optional[str] = None,
                    bytes: int = 0, args: Optional[dict] = None) -> None:  # noqa: A002
        sp = g.aph_trace_span.new(name=cstr(name), category=cstr(category), start_ns=int(start_ns),
                                  duration_ns=int(duration_ns), device=cstr(device), bytes=int(bytes),
                                  args_json=cstr(json.dumps(args)) if args is not None else None)
        lib.aph_trace_sink_record_span(self._h, ctypes.byref(sp))

    @property
    def events(self) -> List[TraceEvent]:
        """In-memory sinks: the events so far (copies)."""
        h = self._h
        out = []
        for i in range(lib.aph_trace_sink_event_count(h)):
            e = g.aph_trace_event.new()
            lib.aph_trace_sink_event(h, i, ctypes.byref(e))
            out.append(_event(e))
        return out

    @property
    def spans(self) -> List[TraceSpan]:
        h = self._h
        out = []
        for i in range(lib.aph_trace_sink_span_count(h)):
            s = g.aph_trace_span.new()
            lib.aph_trace_sink_span(h, i, ctypes.byref(s))
            out.append(_span(s))
        return out

    def clear(self) -> None:
        lib.aph_trace_sink_clear(self._h)

    def export_json(self) -> str:
        out = ctypes.c_void_p()
        lib.aph_trace_export_json(self._h, ctypes.byref(out))
        return take_string(out)

    def export_chrome(self) -> str:
        out = ctypes.c_void_p()
        lib.aph_trace_export_chrome(self._h, ctypes.byref(out))
        return take_string(out)


# ---------------------------------------------------------------------------------------------
# Pipelines


class BuildContext(Handle):
    """The device, sink and tracker a pipeline runs with, its inputs and the executor its plan
    stage makes (aph_build_context). One thread at a time."""

    __slots__ = ()
    _release_name = "aph_build_context_release"

    def __init__(self, device: DeviceLike = None, sink: Optional[TraceSink] = None,
                 tracker: Optional[Tracker] = None) -> None:
        super().__init__(call_out(lib.aph_build_context_create, device._h if isinstance(device, Device) else
                                  (as_device(device) if device is not None else None),
                                  sink._h if sink else None, tracker._h if tracker else None))

    @property
    def device(self) -> Optional[Device]:
        p = lib.aph_build_context_device(self._h)
        return Device._borrowed_ref(p) if p else None

    @property
    def sink(self) -> Optional[TraceSink]:
        p = lib.aph_build_context_sink(self._h)
        return TraceSink._borrowed_ref(p) if p else None

    @property
    def tracker(self) -> Optional[Tracker]:
        p = lib.aph_build_context_tracker(self._h)
        if not p:
            return None
        lib.aph_tracker_retain(p)
        return Tracker._wrap(p)

    def trace(self, id: str, message: str, level: Union[TraceLevel, str] = TraceLevel.INFO) -> None:  # noqa: A002
        lib.aph_build_context_trace(self._h, _level(level), cstr(id), cstr(message))

    def allocate(self, nbytes: int) -> None:
        lib.aph_build_context_allocate(self._h, int(nbytes))

    def set_input(self, name: str, value: Any) -> None:
        lib.aph_build_context_set_input(self._h, cstr(name), as_tensor(value))

    def set_weights_file(self, path: PathLike) -> None:
        lib.aph_build_context_set_weights_file(self._h, cstr(path))

    def set_executor_options(self, *, stream: Any = None, check_numerics: bool = False, profile: bool = False,
                             cpu_threads: int = 0, max_plans: int = 0) -> None:
        opts = g.aph_executor_options.new(stream=stream._h if stream is not None else None,
                                          check_numerics=int(check_numerics), profile=int(profile),
                                          cpu_threads=cpu_threads, max_plans=max_plans)
        lib.aph_build_context_set_executor_options(self._h, ctypes.byref(opts))

    def executor(self) -> Any:
        from ._executor import Executor

        return Executor._from_ref(call_out(lib.aph_build_context_executor, self._h))


StageFn = Callable[[BuildContext, Graph], None]


def _call_user(user_data: Optional[int], ctx: int, graph: int, what: str) -> int:
    entry = lookup(user_data)
    c = BuildContext._wrap(ctx, owned=False)
    gr = Graph._wrap(graph, owned=False)
    try:
        entry[1](c, gr)
        return 0
    except BaseException as exc:  # noqa: BLE001 - never into C
        return report_exception(exc, f"{what} '{entry[0]}'")
    finally:  # borrowed for the call only
        c._invalidate()
        gr._invalidate()


def _stage(user_data, ctx, graph):  # type: ignore[no-untyped-def]
    return _call_user(user_data, ctx, graph, "stage")


def _hook(user_data, ctx, graph):  # type: ignore[no-untyped-def]
    return _call_user(user_data, ctx, graph, "hook")


@guard
def _progress(user_data: Optional[int], stage: bytes, index: int, total: int) -> None:
    fn = lookup(user_data)
    if fn is not None:
        fn(stage.decode("utf-8", "replace"), index, total)


_stage_fn = g.aph_stage_fn(_stage)
_hook_fn = g.aph_hook_fn(_hook)
_progress_fn = g.aph_progress_fn(_progress)


class Pipeline(Handle):
    """Stages over a graph in a build context (aph_pipeline): Pipeline() empty, or
    Pipeline.preset("run"); stages and hooks may be Python callables fn(ctx, graph). An exception
    in one fails the run with its message (an aphelion.Error keeps its status, anything else is
    BackendError), chained as __cause__."""

    __slots__ = ("_progress_key",)
    _release_name = "aph_pipeline_release"

    def __init__(self) -> None:
        super().__init__(call_out(lib.aph_pipeline_create))
        self._progress_key: Optional[int] = None

    @classmethod
    def preset(cls, name: str) -> "Pipeline":
        p = cls._wrap(call_out(lib.aph_pipeline_preset, cstr(name)))
        p._progress_key = None
        return p

    def add_builtin(self, stage: str) -> "Pipeline":
        lib.aph_pipeline_add_builtin(self._h, cstr(stage))
        return self

    def _add(self, fn: Any, c_fn: Any, name: str, *args: Any) -> "Pipeline":
        key = register((name, fn))
        try:
            c_fn(self._h, *args, key, destroy_fn)
        except BaseException:
            unregister(key)
            raise
        return self

    def add_stage(self, name: str, fn: StageFn) -> "Pipeline":
        return self._add(fn, lambda h, *a: lib.aph_pipeline_add_stage(h, cstr(name), _stage_fn, *a), name)

    def add_pre_hook(self, fn: StageFn) -> "Pipeline":
        return self._add(fn, lambda h, *a: lib.aph_pipeline_add_pre_hook(h, _hook_fn, *a), "pre-hook")

    def add_post_hook(self, fn: StageFn) -> "Pipeline":
        return self._add(fn, lambda h, *a: lib.aph_pipeline_add_post_hook(h, _hook_fn, *a), "post-hook")

    def skip(self, stage: str) -> "Pipeline":
        lib.aph_pipeline_skip(self._h, cstr(stage))
        return self

    def on_progress(self, fn: Optional[Callable[[str, int, int], None]]) -> "Pipeline":
        key = register(fn) if fn is not None else None
        lib.aph_pipeline_set_progress(self._h, _progress_fn if fn else None, key)
        old, self._progress_key = self._progress_key, key
        unregister(old)
        if key is not None:  # dropped with the pipeline (no destroy callback for progress)
            import weakref

            weakref.finalize(self, unregister, key)
        return self

    @property
    def stages(self) -> List[str]:
        h = self._h
        return [lib.aph_pipeline_stage_name(h, i).decode() for i in range(lib.aph_pipeline_stage_count(h))]

    def run(self, ctx: BuildContext, graph: Graph) -> None:
        lib.aph_pipeline_run(self._h, ctx._h, graph._h)


# ---------------------------------------------------------------------------------------------
# Logging

TRACE = 5
logging.addLevelName(TRACE, "TRACE")
_PY_LEVEL = {0: TRACE, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_log_key: List[Optional[int]] = [None]


def _logger_name(target: str) -> str:
    return target.replace("::", ".") if target else "aphelion"


@guard
def _log_to_logging(user_data: Optional[int], level: int, target: bytes, message: bytes) -> None:
    fn = lookup(user_data)
    t = target.decode("utf-8", "replace") if target else ""
    m = message.decode("utf-8", "replace")
    if fn is not None:
        fn(LogLevel(level), t, m)
    else:
        logging.getLogger(_logger_name(t)).log(_PY_LEVEL.get(level, logging.ERROR), m)


_log_fn = g.aph_log_callback(_log_to_logging)


def set_log_callback(fn: Optional[Callable[[LogLevel, str, str], None]]) -> None:
    """Sends libaphelion's messages to fn(level, target, message), from any thread (None: back to
    the default stderr sink). Exceptions in fn go to sys.unraisablehook."""
    key = register(fn) if fn is not None else None
    try:
        lib.aph_log_set_callback(_log_fn if fn is not None else None, key)
    except BaseException:
        unregister(key)
        raise
    old, _log_key[0] = _log_key[0], key
    unregister(old)  # the library no longer calls the previous one when set_callback returns


def log_to_python() -> None:
    """Routes libaphelion's messages into the `logging` module: logger "aphelion.device" for the
    target "aphelion::device", levels TRACE(5)/DEBUG/INFO/WARNING/ERROR. The library's own level
    filter still applies first (set_log_level)."""
    key = None
    lib.aph_log_set_callback(_log_fn, key)
    old, _log_key[0] = _log_key[0], None
    unregister(old)


def set_log_level(level: Union[LogLevel, str, int]) -> None:
    if isinstance(level, str):
        level = LogLevel[level.upper()]
    lib.aph_log_set_level(int(level))


def get_log_level() -> LogLevel:
    return LogLevel(lib.aph_log_get_level())


def log_level_name(level: Union[LogLevel, int]) -> str:
    return lib.aph_log_level_name(int(level)).decode()


def log_write(level: Union[LogLevel, str, int], message: str, target: Optional[str] = None) -> None:
    if isinstance(level, str):
        level = LogLevel[level.upper()]
    lib.aph_log_write(int(level), cstr(target), cstr(message))


def log_apply_preset(preset: Union[LogPreset, str]) -> None:
    if isinstance(preset, str):
        preset = LogPreset[preset.upper()]
    lib.aph_log_apply_preset(int(preset))


def log_training_step(step: int, total_steps: int, loss: float, lr: float) -> None:
    lib.aph_log_training_step(step, total_steps, loss, lr)


def log_memory_usage(allocated_bytes: int, peak_bytes: int, context: Optional[str] = None) -> None:
    lib.aph_log_memory_usage(allocated_bytes, peak_bytes, cstr(context))
