"""Executable graphs (section 20): executors, signatures, plans, custom operations in Python."""
from __future__ import annotations

import ctypes
import json
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _generated as g
from ._device import Device, DeviceLike, Stream, Tracker, as_device
from ._generated import DType, MatmulPrecision, NodeKind, ParamType
from ._graph import Graph, PathLike
from ._handle import Handle, call_out
from ._lib import cstr, enum_value, lib, lookup, register, report_exception, unregister
from ._tensor import Tensor, as_tensor, to_dtype


@dataclass(frozen=True)
class ValueInfo:
    """An input, weight or output of an executor: -1 in shape for a symbolic size, whose name
    is in dim_names ("batch", "batch*seq", "?"); None there for fixed sizes."""

    name: str
    node_id: int
    dtype: DType
    shape: Tuple[int, ...]
    dim_names: Tuple[Optional[str], ...]


@dataclass(frozen=True)
class NodeStats:
    id: int
    name: str
    op: str
    dtype: DType
    shape: Tuple[int, ...]
    bytes: int
    offset: Optional[int]
    last_ns: int
    total_ns: int


def _value_info(v: g.aph_value_info) -> ValueInfo:
    n = v.ndim
    names = tuple((v.dim_names[i].decode() if v.dim_names[i] else None) for i in range(n)) if n else ()
    return ValueInfo(v.name.decode("utf-8", "replace"), v.node_id, DType(v.dtype),
                     tuple(v.shape[i] for i in range(n)), names)


class Executor(Handle):
    """Runs a graph on a device (aph_executor): Executor(graph, device, ...).run({"x": array}).

    Inputs are Tensors or numpy arrays (shared without a copy when possible); run() returns
    {output name: Tensor}. An output tensor views the executor's memory, which the next run
    overwrites: copy it (t.clone(), t.to_numpy()) to keep a value across runs, or bind_output().
    One thread at a time per executor; separate executors run in parallel (the GIL is released
    during runs)."""

    __slots__ = ("_inputs",)
    _release_name = "aph_executor_release"

    def __init__(self, graph: Graph, device: DeviceLike = None, *, tracker: Optional[Tracker] = None,
                 trace: Optional[Any] = None, stream: Optional[Stream] = None, check_numerics: bool = False,
                 profile: bool = False, cpu_threads: int = 0, max_plans: int = 0,
                 matmul_precision: Union[MatmulPrecision, str] = MatmulPrecision.F32) -> None:
        """matmul_precision: the linear layers' arithmetic on the CPU, "f32", "bf16" or "int8"
        (aph_matmul_precision); bf16/int8 raise aphelion.NotImplementedError where the processor
        lacks AVX512_BF16 / AVX512_VNNI."""
        opts = g.aph_executor_options.new(
            tracker=tracker._h if tracker is not None else None, trace=trace._h if trace is not None else None,
            stream=stream._h if stream is not None else None, check_numerics=int(bool(check_numerics)),
            profile=int(bool(profile)), cpu_threads=int(cpu_threads), max_plans=int(max_plans),
            matmul_precision=enum_value(MatmulPrecision, matmul_precision))
        super().__init__(call_out(lib.aph_executor_create, graph._h, as_device(device), ctypes.byref(opts)))
        self._inputs: Dict[str, Tensor] = {}

    def new_reference(self) -> "Executor":
        """Another wrapper with its own reference to the same executor (aph_executor_retain)."""
        lib.aph_executor_retain(self._h)
        return Executor._from_ref(self._h)

    @classmethod
    def _from_ref(cls, ptr: int) -> "Executor":
        e = cls._wrap(ptr)
        e._inputs = {}
        return e

    # ---- signatures
    def _infos(self, count: Any, info: Any) -> List[ValueInfo]:
        h = self._h
        out = []
        for i in range(count(h)):
            v = g.aph_value_info.new()
            info(h, i, ctypes.byref(v))
            out.append(_value_info(v))
        return out

    @property
    def inputs(self) -> List[ValueInfo]:
        return self._infos(lib.aph_executor_input_count, lib.aph_executor_input_info)

    @property
    def weights(self) -> List[ValueInfo]:
        return self._infos(lib.aph_executor_weight_count, lib.aph_executor_weight_info)

    @property
    def outputs(self) -> List[ValueInfo]:
        return self._infos(lib.aph_executor_output_count, lib.aph_executor_output_info)

    @property
    def output_names(self) -> List[str]:
        h = self._h
        return [lib.aph_executor_output_name(h, i).decode() for i in range(lib.aph_executor_output_count(h))]

    def find_input(self, name: str) -> int:
        out = ctypes.c_size_t()
        lib.aph_executor_find_input(self._h, cstr(name), ctypes.byref(out))
        return out.value

    def find_weight(self, name: str) -> int:
        out = ctypes.c_size_t()
        lib.aph_executor_find_weight(self._h, cstr(name), ctypes.byref(out))
        return out.value

    def find_output(self, name: str) -> int:
        out = ctypes.c_size_t()
        lib.aph_executor_find_output(self._h, cstr(name), ctypes.byref(out))
        return out.value

    # ---- binding and running
    def set_input(self, name: str, value: Any) -> Tensor:
        t = as_tensor(value)
        lib.aph_executor_set_input(self._h, cstr(name), t._h)
        self._inputs[name] = t  # the numpy array behind it stays alive while bound
        return t

    def set_weight(self, name: str, value: Any) -> None:
        t = as_tensor(value)
        lib.aph_executor_set_weight(self._h, cstr(name), t._h)

    def load_weights(self, path: PathLike) -> None:
        """Binds every weight node from a safetensors file (memory-mapped, in place on the CPU)."""
        lib.aph_executor_load_weights(self._h, cstr(path))

    def bind_output(self, name: str, tensor: Optional[Tensor]) -> None:
        """Every later run writes output name into tensor (None unbinds)."""
        lib.aph_executor_bind_output(self._h, cstr(name), tensor._h if tensor is not None else None)

    def output(self, name: str) -> Tensor:
        return Tensor._wrap(call_out(lib.aph_executor_output, self._h, cstr(name)))

    def run(self, inputs: Optional[Mapping[str, Any]] = None, **kw: Any) -> Dict[str, Tensor]:
        """Binds inputs (a dict name -> Tensor/array, and/or keyword arguments), runs once and
        returns every output by name."""
        for name, value in {**(inputs or {}), **kw}.items():
            self.set_input(name, value)
        lib.aph_executor_run(self._h)
        return {name: self.output(name) for name in self.output_names}

    __call__ = run

    # ---- facts
    @property
    def run_count(self) -> int:
        return lib.aph_executor_run_count(self._h)

    def plan_info(self) -> Dict[str, int]:
        p = g.aph_plan_info.new()
        lib.aph_executor_plan_info(self._h, ctypes.byref(p))
        return {n: getattr(p, n) for n, _ in g.aph_plan_info._fields_ if n != "struct_size"}

    def node_stats(self) -> List[NodeStats]:
        h = self._h
        out = []
        for i in range(lib.aph_executor_node_count(h)):
            s = g.aph_node_stats.new()
            lib.aph_executor_node_stats(h, i, ctypes.byref(s))
            out.append(NodeStats(s.id, s.name.decode(), s.op.decode(), DType(s.dtype),
                                 tuple(s.shape[j] for j in range(s.ndim)), s.bytes,
                                 None if s.offset == 2**64 - 1 else s.offset, s.last_ns, s.total_ns))
        return out

    def symbols(self) -> Dict[str, int]:
        """Symbolic dimensions and their sizes now (-1: not given by a bound input yet)."""
        h = self._h
        out = {}
        for i in range(lib.aph_executor_symbol_count(h)):
            name, value = ctypes.c_char_p(), ctypes.c_int64()
            lib.aph_executor_symbol(h, i, ctypes.byref(name), ctypes.byref(value))
            out[(name.value or b"").decode()] = value.value
        return out

    def __repr__(self) -> str:
        if self.closed:
            return "Executor(closed)"
        return f"Executor(inputs={[i.name for i in self.inputs]}, outputs={self.output_names})"


# ---------------------------------------------------------------------------------------------
# The operation table as data


@dataclass(frozen=True)
class OpParam:
    name: str
    type: ParamType
    required: bool
    default: Any
    allowed_values: Tuple[str, ...]


@dataclass(frozen=True)
class OpSchema:
    name: str
    kind: NodeKind
    min_operands: int
    max_operands: int
    operand_names: Tuple[str, ...]
    params: Tuple[OpParam, ...]


def _schema(s: g.aph_op_schema) -> OpSchema:
    params = []
    for j in range(s.param_count):
        p = g.aph_op_param.new()
        lib.aph_op_get_param(s.index, j, ctypes.byref(p))
        allowed = tuple(p.allowed_values[k].decode() for k in range(p.allowed_count)) if p.allowed_count else ()
        params.append(OpParam(p.name.decode(), ParamType(p.type), bool(p.required),
                              json.loads(p.default_json) if p.default_json else None, allowed))
    names = tuple(s.operand_names[k].decode() for k in range(s.max_operands)) if s.max_operands else ()
    return OpSchema(s.name.decode(), NodeKind(s.kind), s.min_operands, s.max_operands, names, tuple(params))


def op_schemas() -> List[OpSchema]:
    """Every built-in operation (header section 20's table, as data)."""
    out = []
    for i in range(lib.aph_op_schema_count()):
        s = g.aph_op_schema.new()
        lib.aph_op_get_schema(i, ctypes.byref(s))
        out.append(_schema(s))
    return out


def op_schema(name: str) -> OpSchema:
    s = g.aph_op_schema.new()
    lib.aph_op_schema_find(cstr(name), ctypes.byref(s))
    return _schema(s)


# ---------------------------------------------------------------------------------------------
# Custom operations in Python


class _CustomOp:
    def __init__(self, name: str, infer: Callable[..., Any], cpu: Callable[..., Any],
                 cuda: Optional[Callable[..., Any]]) -> None:
        self.name, self.infer, self.cpu, self.cuda = name, infer, cpu, cuda


def _borrowed_tensor(ptr: int) -> Tensor:
    """A Tensor with its own reference to a tensor the library lends a callback (so keeping it
    past the callback is safe)."""
    lib.aph_tensor_retain(ptr)
    return Tensor._wrap(ptr)


def _op_infer(user_data, params_json, n, dtypes, shapes, ndims, out_dtype, out_shape, capacity, out_ndim):  # type: ignore[no-untyped-def]
    op = lookup(user_data)
    try:
        params = json.loads(params_json.decode("utf-8")) if params_json else {}
        ins = [(DType(dtypes[i]), tuple(shapes[i][j] for j in range(ndims[i]))) for i in range(n)]
        dtype, shape = op.infer(params, ins)
        shape = [int(d) for d in shape]
        if len(shape) > capacity:
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(f"custom operation '{op.name}': {len(shape)} dimensions (at most {capacity})")
        out_dtype[0] = int(to_dtype(dtype))
        for j, d in enumerate(shape):
            out_shape[j] = d
        out_ndim[0] = len(shape)
        return 0
    except BaseException as exc:  # noqa: BLE001 - never into C
        return report_exception(exc, f"custom operation '{getattr(op, 'name', '?')}' infer")


def _run_op(which: str, user_data: Optional[int], params_json: Optional[bytes], n: int, inputs: Any, out: int,
            stream: Optional[int]) -> int:
    op = lookup(user_data)
    tensors: List[Tensor] = []
    try:
        params = json.loads(params_json.decode("utf-8")) if params_json else {}
        tensors = [_borrowed_tensor(inputs[i]) for i in range(n)]
        o = _borrowed_tensor(out)
        tensors.append(o)
        fn = op.cpu if which == "cpu" else op.cuda
        if which == "cuda":
            fn(params, tensors[:-1], o, Stream._borrowed_ref(stream) if stream else None)
        else:
            fn(params, tensors[:-1], o)
        return 0
    except BaseException as exc:  # noqa: BLE001
        return report_exception(exc, f"custom operation '{getattr(op, 'name', '?')}' {which}")
    finally:
        for t in tensors:
            t.close()


def _op_cpu(user_data, params_json, n, inputs, out):  # type: ignore[no-untyped-def]
    return _run_op("cpu", user_data, params_json, n, inputs, out, None)


def _op_cuda(user_data, params_json, n, inputs, out, stream):  # type: ignore[no-untyped-def]
    return _run_op("cuda", user_data, params_json, n, inputs, out, stream)


_infer_fn = g.aph_custom_op_infer_fn(_op_infer)
_cpu_fn = g.aph_custom_op_cpu_fn(_op_cpu)
_cuda_fn = g.aph_custom_op_cuda_fn(_op_cuda)
_op_destroy_fn = g.aph_custom_op_destroy_fn(lambda key: unregister(key))


def register_op(name: str, infer: Callable[[Dict[str, Any], List[Tuple[DType, Tuple[int, ...]]]],
                                            Tuple[Any, Sequence[int]]],
                cpu: Callable[[Dict[str, Any], List[Tensor], Tensor], None],
                cuda: Optional[Callable[..., None]] = None) -> None:
    """Registers a custom operation for executors made afterwards.

    infer(params, [(dtype, shape), ...]) -> (dtype, shape) of the output; cpu(params, inputs,
    out) writes the result into out (e.g. through out.numpy()); cuda(params, inputs, out, stream)
    likewise for CUDA tensors (optional). An exception inside any of them fails the run with
    its message (an aphelion.Error keeps its status; anything else is BackendError), chained as
    __cause__ of the error the run raises."""
    key = register(_CustomOp(name, infer, cpu, cuda))
    op = g.aph_custom_op.new(name=cstr(name), infer=_infer_fn, cpu=_cpu_fn, user_data=key, destroy=_op_destroy_fn)
    if cuda is not None:
        op.cuda = _cuda_fn
    try:
        lib.aph_custom_op_register(ctypes.byref(op))
    except BaseException:
        unregister(key)
        raise


def unregister_op(name: str) -> None:
    lib.aph_custom_op_unregister(cstr(name))
