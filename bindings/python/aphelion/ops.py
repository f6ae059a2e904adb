"""The operations of header section 14 as functions.

Each takes its input tensors (aphelion.Tensor, or anything aphelion.as_tensor takes: numpy
arrays are shared without a copy), an optional out= tensor (when absent, the binding allocates
one with the documented shape and dtype on the inputs' device) and an optional stream=
(None: the device's default stream). They return out. The library checks every shape, dtype
and device and raises the documented error (ShapeMismatchError, DimensionMismatchError, ...);
the binding only guesses out's shape, and leaves the judging to the library. On the CPU the work
is done when the call returns; on CUDA it is queued on the stream. The GIL is released while the
library works, so several Python threads run operations in parallel.
"""
from __future__ import annotations

import builtins
from typing import Any, Optional, Sequence, Tuple, Union

from ._device import Stream, stream_arg
from ._generated import Activation, BinaryOp, DType, QuantScheme, ReduceOp, RopeLayout, UnaryOp
from ._lib import enum_value, lib
from ._tensor import Tensor, as_tensor, empty, to_dtype

__all__ = [
    "matmul", "linear", "binary", "add", "sub", "mul", "div", "maximum", "minimum", "unary", "relu", "gelu",
    "gelu_tanh", "silu", "tanh", "sigmoid", "exp", "log", "neg", "sqrt", "rsqrt", "abs", "bias_activation",
    "softmax", "log_softmax", "layer_norm", "rms_norm", "reduce", "sum", "mean", "max", "argmax", "rope",
    "embedding", "positions", "cast", "attention", "quantize", "dequantize", "ternary_matmul", "gru_cell",
]

TensorLike = Any


def _t(x: TensorLike, like: Optional[Tensor] = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return as_tensor(x, device=like.device if like is not None else None)


def _opt(x: Optional[TensorLike], like: Tensor) -> Optional[Tensor]:
    # Returns the Tensor itself (passed through _as_parameter_): a temporary whose handle alone
    # were passed would be released before the call.
    return _t(x, like) if x is not None else None


def _out(out: Optional[Tensor], shape: Sequence[int], dtype: Any, like: Tensor) -> Tensor:
    if out is not None:
        return out
    return empty(shape, dtype, like.device)


_enum = enum_value


def _broadcast(a: Sequence[int], b: Sequence[int]) -> Tuple[int, ...]:
    n = builtins.max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    # Sizes that do not broadcast: take a's (the library reports the mismatch with both shapes).
    return tuple(y if x == 1 else x for x, y in zip(a, b))


def matmul(a: TensorLike, b: TensorLike, transpose_a: bool = False, transpose_b: bool = False, alpha: float = 1.0,
           beta: float = 0.0, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    """out = alpha * op(a) @ op(b) + beta * out (batch dimensions broadcast)."""
    a = _t(a)
    b = _t(b, a)
    sa, sb = a.shape, b.shape
    if out is None:
        m = (sa[-1] if transpose_a else sa[-2]) if len(sa) >= 2 else 1
        n = (sb[-2] if transpose_b else sb[-1]) if len(sb) >= 2 else 1
        out = empty(_broadcast(sa[:-2], sb[:-2]) + (m, n), a.dtype, a.device)
    lib.aph_op_matmul(a._h, b._h, int(bool(transpose_a)), int(bool(transpose_b)), float(alpha), float(beta), out._h,
                      stream_arg(stream))
    return out


def linear(x: TensorLike, weight: TensorLike, bias: Optional[TensorLike] = None, out: Optional[Tensor] = None,
           stream: Optional[Stream] = None) -> Tensor:
    """out = x @ weight.T + bias; weight is [N, K] (PyTorch's layout)."""
    x = _t(x)
    w = _t(weight, x)
    out = _out(out, x.shape[:-1] + (w.shape[0] if w.ndim else 0,), x.dtype, x)
    lib.aph_op_linear(x._h, w._h, _opt(bias, x), out._h, stream_arg(stream))
    return out


def binary(op: Union[BinaryOp, str], a: TensorLike, b: Union[TensorLike, float], out: Optional[Tensor] = None,
           stream: Optional[Stream] = None) -> Tensor:
    """a (op) b elementwise with numpy broadcasting; b may be a Python number (aph_op_binary_scalar)."""
    a = _t(a)
    code = _enum(BinaryOp, op)
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        out = _out(out, a.shape, a.dtype, a)
        lib.aph_op_binary_scalar(code, a._h, float(b), out._h, stream_arg(stream))
        return out
    b = _t(b, a)
    out = _out(out, _broadcast(a.shape, b.shape), a.dtype, a)
    lib.aph_op_binary(code, a._h, b._h, out._h, stream_arg(stream))
    return out


def add(a: TensorLike, b: Any, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    return binary(BinaryOp.ADD, a, b, out, stream)


def sub(a: TensorLike, b: Any, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    return binary(BinaryOp.SUB, a, b, out, stream)


def mul(a: TensorLike, b: Any, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    return binary(BinaryOp.MUL, a, b, out, stream)


def div(a: TensorLike, b: Any, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    return binary(BinaryOp.DIV, a, b, out, stream)


def maximum(a: TensorLike, b: Any, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    return binary(BinaryOp.MAXIMUM, a, b, out, stream)


def minimum(a: TensorLike, b: Any, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    return binary(BinaryOp.MINIMUM, a, b, out, stream)


def unary(op: Union[UnaryOp, str], x: TensorLike, out: Optional[Tensor] = None,
          stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    out = _out(out, x.shape, x.dtype, x)
    lib.aph_op_unary(_enum(UnaryOp, op), x._h, out._h, stream_arg(stream))
    return out


def _unary(op: UnaryOp) -> Any:
    def f(x: TensorLike, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
        return unary(op, x, out, stream)

    f.__name__ = op.name.lower()
    f.__doc__ = f"out = {op.name.lower()}(x) elementwise (aph_op_unary); out may be x."
    return f


relu = _unary(UnaryOp.RELU)
gelu = _unary(UnaryOp.GELU)
gelu_tanh = _unary(UnaryOp.GELU_TANH)
silu = _unary(UnaryOp.SILU)
tanh = _unary(UnaryOp.TANH)
sigmoid = _unary(UnaryOp.SIGMOID)
exp = _unary(UnaryOp.EXP)
log = _unary(UnaryOp.LOG)
neg = _unary(UnaryOp.NEG)
sqrt = _unary(UnaryOp.SQRT)
rsqrt = _unary(UnaryOp.RSQRT)
abs = _unary(UnaryOp.ABS)  # noqa: A001 - the vocabulary's name


def bias_activation(x: TensorLike, bias: TensorLike, activation: Union[Activation, str] = Activation.NONE,
                    out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    out = _out(out, x.shape, x.dtype, x)
    lib.aph_op_bias_activation(x._h, _t(bias, x), _enum(Activation, activation), out._h, stream_arg(stream))
    return out


def softmax(x: TensorLike, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    """Softmax over the last dimension."""
    x = _t(x)
    out = _out(out, x.shape, x.dtype, x)
    lib.aph_op_softmax(x._h, out._h, stream_arg(stream))
    return out


def log_softmax(x: TensorLike, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    out = _out(out, x.shape, x.dtype, x)
    lib.aph_op_log_softmax(x._h, out._h, stream_arg(stream))
    return out


def layer_norm(x: TensorLike, weight: TensorLike, bias: Optional[TensorLike] = None, eps: float = 1e-5,
               out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    out = _out(out, x.shape, x.dtype, x)
    lib.aph_op_layer_norm(x._h, _t(weight, x), _opt(bias, x), float(eps), out._h, stream_arg(stream))
    return out


def rms_norm(x: TensorLike, weight: TensorLike, eps: float = 1e-6, out: Optional[Tensor] = None,
             stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    out = _out(out, x.shape, x.dtype, x)
    lib.aph_op_rms_norm(x._h, _t(weight, x), float(eps), out._h, stream_arg(stream))
    return out


def _reduced(shape: Tuple[int, ...], dim: int, keepdim: bool) -> Tuple[int, ...]:
    if not shape:
        return ()
    d = dim + len(shape) if dim < 0 else dim
    if not 0 <= d < len(shape):
        return shape  # the library names the bad dim
    return shape[:d] + ((1,) if keepdim else ()) + shape[d + 1:]


def reduce(op: Union[ReduceOp, str], x: TensorLike, dim: int = -1, keepdim: bool = False,
           out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    out = _out(out, _reduced(x.shape, dim, keepdim), x.dtype, x)
    lib.aph_op_reduce(_enum(ReduceOp, op), x._h, int(dim), int(bool(keepdim)), out._h, stream_arg(stream))
    return out


def sum(x: TensorLike, dim: int = -1, keepdim: bool = False, out: Optional[Tensor] = None,  # noqa: A001
        stream: Optional[Stream] = None) -> Tensor:
    return reduce(ReduceOp.SUM, x, dim, keepdim, out, stream)


def mean(x: TensorLike, dim: int = -1, keepdim: bool = False, out: Optional[Tensor] = None,
         stream: Optional[Stream] = None) -> Tensor:
    return reduce(ReduceOp.MEAN, x, dim, keepdim, out, stream)


def max(x: TensorLike, dim: int = -1, keepdim: bool = False, out: Optional[Tensor] = None,  # noqa: A001
        stream: Optional[Stream] = None) -> Tensor:
    return reduce(ReduceOp.MAX, x, dim, keepdim, out, stream)


def argmax(x: TensorLike, dim: int = -1, keepdim: bool = False, out: Optional[Tensor] = None,
           stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    out = _out(out, _reduced(x.shape, dim, keepdim), DType.I64, x)
    lib.aph_op_argmax(x._h, int(dim), int(bool(keepdim)), out._h, stream_arg(stream))
    return out


def rope(x: TensorLike, positions: TensorLike, theta: float = 10000.0, layout: Union[RopeLayout, str] = "half",
         out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    """Rotary position embedding of x [batch, seq, heads, head_dim]."""
    x = _t(x)
    out = _out(out, x.shape, x.dtype, x)
    lib.aph_op_rope(x._h, _t(positions, x), float(theta), _enum(RopeLayout, layout), out._h, stream_arg(stream))
    return out


def embedding(table: TensorLike, ids: TensorLike, out: Optional[Tensor] = None,
              stream: Optional[Stream] = None) -> Tensor:
    table = _t(table)
    ids = _t(ids, table)
    out = _out(out, ids.shape + (table.shape[-1] if table.ndim else 0,), table.dtype, table)
    lib.aph_op_embedding(table._h, ids._h, out._h, stream_arg(stream))
    return out


def positions(x: TensorLike, dim: int = -1, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    """i64 [n]: 0 .. n-1 where n is x's size along dim."""
    x = _t(x)
    s = x.shape
    n = s[dim] if s and -len(s) <= dim < len(s) else 0
    out = _out(out, (n,), DType.I64, x)
    lib.aph_op_positions(x._h, int(dim), out._h, stream_arg(stream))
    return out


def cast(x: TensorLike, dtype: Any = None, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    """x converted to dtype (or into out's dtype)."""
    x = _t(x)
    if out is None:
        if dtype is None:
            raise TypeError("cast needs dtype= or out=")
        out = empty(x.shape, to_dtype(dtype), x.device)
    lib.aph_op_cast(x._h, out._h, stream_arg(stream))
    return out


def attention(q: TensorLike, k: TensorLike, v: TensorLike, mask: Optional[TensorLike] = None, scale: float = 0.0,
              causal: bool = False, out: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tensor:
    """Scaled dot-product attention; q [batch, seq_q, heads_q, head_dim], k and v
    [batch, seq_k, heads_kv, head_dim]; scale 0 means 1/sqrt(head_dim)."""
    q = _t(q)
    out = _out(out, q.shape, q.dtype, q)
    lib.aph_op_attention(q._h, _t(k, q), _t(v, q), _opt(mask, q), float(scale), int(bool(causal)), out._h,
                         stream_arg(stream))
    return out


def _quant_shapes(scheme: QuantScheme, shape: Tuple[int, ...], axis: int) -> Tuple[Tuple[int, ...], Tuple[int, ...],
                                                                                     DType]:
    numel = 1
    for d in shape:
        numel *= d
    if scheme == QuantScheme.INT8:
        scale = (1,) if axis < 0 else ((shape[axis],) if axis < len(shape) else (1,))
        return shape, scale, DType.I8
    if scheme in (QuantScheme.FP8_E4M3, QuantScheme.FP8_E5M2):
        return shape, (1,), DType.F8E4M3 if scheme == QuantScheme.FP8_E4M3 else DType.F8E5M2
    if scheme == QuantScheme.NF4:
        return ((numel + 1) // 2,), ((numel + 63) // 64,), DType.U8
    if scheme == QuantScheme.TERNARY:
        k = shape[-1] if shape else 1
        return shape[:-1] + ((k + 3) // 4,), (1,), DType.U8
    raise ValueError(f"unknown quantization scheme {scheme!r}")


def quantize(x: TensorLike, scheme: Union[QuantScheme, str], axis: int = -1, out_q: Optional[Tensor] = None,
             out_scale: Optional[Tensor] = None, stream: Optional[Stream] = None) -> Tuple[Tensor, Tensor]:
    """(codes, scale) of x under scheme (int8, fp8_e4m3, fp8_e5m2, nf4, ternary); axis >= 0: int8
    per channel along axis (a negative axis is per tensor here, not counted from the end)."""
    x = _t(x)
    code = QuantScheme(_enum(QuantScheme, scheme))
    qs, ss, qd = _quant_shapes(code, x.shape, axis)
    out_q = _out(out_q, qs, qd, x)
    out_scale = _out(out_scale, ss, DType.F32, x)
    lib.aph_quantize(int(code), x._h, int(axis), out_q._h, out_scale._h, stream_arg(stream))
    return out_q, out_scale


def dequantize(q: TensorLike, scale: TensorLike, scheme: Union[QuantScheme, str], shape: Optional[Sequence[int]] = None,
               dtype: Any = DType.F32, axis: int = -1, out: Optional[Tensor] = None,
               stream: Optional[Stream] = None) -> Tensor:
    """The inverse of quantize: out has the original shape (shape=, needed for nf4 and ternary;
    q's shape for int8 and fp8) and dtype."""
    q = _t(q)
    if out is None:
        out = empty(tuple(shape) if shape is not None else q.shape, to_dtype(dtype), q.device)
    lib.aph_dequantize(_enum(QuantScheme, scheme), q._h, _t(scale, q), int(axis), out._h, stream_arg(stream))
    return out


def ternary_matmul(x: TensorLike, packed: TensorLike, scale: TensorLike, out: Optional[Tensor] = None,
                   stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    packed = _t(packed, x)
    out = _out(out, x.shape[:-1] + (packed.shape[0] if packed.ndim else 0,), x.dtype, x)
    lib.aph_op_ternary_matmul(x._h, packed._h, _t(scale, x), out._h, stream_arg(stream))
    return out


def gru_cell(x: TensorLike, h: TensorLike, w_ih: TensorLike, w_hh: TensorLike, b_ih: Optional[TensorLike] = None,
             b_hh: Optional[TensorLike] = None, out: Optional[Tensor] = None,
             stream: Optional[Stream] = None) -> Tensor:
    x = _t(x)
    h = _t(h, x)
    out = _out(out, h.shape, h.dtype, x)
    lib.aph_op_gru_cell(x._h, h._h, _t(w_ih, x), _t(w_hh, x), _opt(b_ih, x), _opt(b_hh, x), out._h,
                        stream_arg(stream))
    return out
