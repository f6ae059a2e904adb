"""aphelion: Python binding of libaphelion, an embeddable runtime library for AI workloads.

    import aphelion, numpy as np
    t = aphelion.from_numpy(np.ones((2, 3), np.float32))     # zero-copy
    y = aphelion.relu(t - 0.5).numpy()                         # zero-copy view of the result
    g = aphelion.Graph.load("model.json")
    outs = aphelion.Executor(g, "cpu").run({"x": np.zeros((1, 16), np.float32)})
    emb = aphelion.load_model("all-MiniLM-L6-v2").embed(["a text", "another"])  # [2, 384] float32

See bindings/python/README.md. The raw C API is aphelion.raw (every header function by name).
"""
from __future__ import annotations

from . import _generated, _lib
from ._device import (CudaInfo, Device, DeviceConfig, Event, Stream, Tracker, cpu_get_thread_limit,
                      cpu_set_thread_limit, cpu_thread_count, cuda_info, estimate_attention_bytes,
                      estimate_tensor_bytes)
from ._dlpack import from_dlpack
from ._executor import (Executor, NodeStats, OpParam, OpSchema, ValueInfo, op_schema, op_schemas, register_op,
                        unregister_op)
from ._files import SafetensorsFile, Tokenizer, load_safetensors, save_safetensors
from ._generated import (Activation, BinaryOp, DeviceKind, DType, LogLevel, LogPreset, MatmulPrecision, NodeKind,
                         Padding, ParamType, PrecisionMode, QuantScheme, ReduceOp, RopeLayout, Status, TraceLevel,
                         Truncation, UnaryOp)
from ._graph import Graph, ModelConfig, Node, validate_name, validate_version
from ._model import Model, Pooling, load_model
from ._tensor import (Tensor, as_tensor, deleter_stats, dtype_name, dtype_size, empty, from_blob, from_numpy, tensor,
                      to_dtype, zeros)
from ._trace import (BuildContext, Pipeline, TraceEvent, TraceSink, TraceSpan, get_log_level, log_apply_preset,
                     log_level_name, log_memory_usage, log_to_python, log_training_step, log_write,
                     set_log_callback, set_log_level)
from .errors import *  # noqa: F401,F403 - the exception classes
from .errors import Error, error_class
from .ops import *  # noqa: F401,F403 - the operations of section 14
from .ops import abs, max, sum  # noqa: A004 - the vocabulary's names (shadow builtins inside aphelion only)

#: This binding's version (the header it was generated from).
__version__ = "%d.%d.%d" % _generated.HEADER_VERSION
#: The loaded library: its version string, version tuple and path.
library_version: str = _lib.lib.aph_version_string().decode()
library_version_info = _lib.LIBRARY_VERSION
library_path: str = _lib.PATH
raw = _lib.raw


def status_name(status: int) -> str:
    """The C enum name of a status ("APH_ERR_NOT_FOUND"; "APH_ERR_UNKNOWN" for a newer code)."""
    return _lib.status_name(int(status))


def last_error() -> str:
    """The calling thread's last error message (what the last failing call raised)."""
    return _lib.lib.aph_last_error().decode("utf-8", "replace")


def dtype_is_floating_point(dtype: object) -> bool:
    return bool(_lib.lib.aph_dtype_is_floating_point(int(to_dtype(dtype))))


def dtype_is_half_precision(dtype: object) -> bool:
    return bool(_lib.lib.aph_dtype_is_half_precision(int(to_dtype(dtype))))


def dtype_is_training(dtype: object) -> bool:
    return bool(_lib.lib.aph_dtype_is_training(int(to_dtype(dtype))))


def dtype_is_integer(dtype: object) -> bool:
    return bool(_lib.lib.aph_dtype_is_integer(int(to_dtype(dtype))))


def dtype_accumulator(dtype: object) -> DType:
    return DType(_lib.lib.aph_dtype_accumulator(int(to_dtype(dtype))))


def precision_compute_dtype(mode: PrecisionMode) -> DType:
    return DType(_lib.lib.aph_precision_compute_dtype(int(mode)))


def precision_master_weight_dtype(mode: PrecisionMode) -> DType:
    return DType(_lib.lib.aph_precision_master_weight_dtype(int(mode)))


def precision_requires_loss_scaling(mode: PrecisionMode) -> bool:
    return bool(_lib.lib.aph_precision_requires_loss_scaling(int(mode)))

