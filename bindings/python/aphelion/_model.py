"""Text encoders from Hugging Face directories (header section 23, the model API): a BERT-family
sentence encoder (all-MiniLM-L6-v2 and the like) loaded from a model directory, as
sentence-transformers loads it.

    with aphelion.load_model(path) as model:
        emb = model.embed(["first text", "second text"])   # numpy float32 [2, 384]
"""
from __future__ import annotations

import ctypes
import weakref
from typing import Any, Callable, List, Optional, Sequence, Union

from . import _generated as g
from ._device import DeviceLike, as_device
from ._executor import Executor
from ._files import Tokenizer
from ._graph import Graph, PathLike
from ._handle import Handle, call_out
from ._lib import cstr, enum_value, lib, lookup, register, unregister
from ._tensor import Tensor, as_tensor

Pooling = g.Pooling
MatmulPrecision = g.MatmulPrecision


class _Progress:
    """The Python callable behind one model's progress callback, and the first exception it
    raised during the current embed (re-raised by embed once the C call has returned: the C
    callback cannot stop the embedding)."""

    __slots__ = ("fn", "error")

    def __init__(self, fn: Callable[[int, int], None]) -> None:
        self.fn = fn
        self.error: Optional[BaseException] = None


def _progress(user_data: Optional[int], done: int, total: int) -> None:
    p = lookup(user_data)
    if p is None or p.error is not None:
        return
    try:
        p.fn(done, total)
    except BaseException as exc:  # noqa: BLE001 - nothing may cross into C; re-raised by embed
        p.error = exc


_progress_fn = g.aph_model_progress_fn(_progress)


def _normalize_option(normalize: Optional[bool]) -> int:
    """None: as the directory says (0); True: always L2-normalise (1); False: never (-1)."""
    if normalize is None:
        return 0
    return 1 if normalize else -1


def _release_model(ptr: int, key: Optional[int]) -> None:
    lib.aph_model_release(ptr)
    unregister(key)


def _texts(texts: Union[str, bytes, Sequence[Union[str, bytes]]]) -> List[bytes]:
    if isinstance(texts, (str, bytes)):
        texts = [texts]
    return [t if isinstance(t, bytes) else str(t).encode("utf-8") for t in texts]


def _token_tensor(x: Any) -> Tensor:
    """A Tensor as it is (the C call checks its dtype); anything else as an int64 tensor (numpy
    integer arrays of another width are converted; int64 ones are shared, not copied)."""
    if isinstance(x, Tensor):
        return x
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is optional for the rest of the binding
        return as_tensor(x, dtype="int64")
    a = np.asarray(x)
    if a.dtype.kind in "iub":
        a = np.ascontiguousarray(a, dtype=np.int64)
    return as_tensor(a)


class Model(Handle):
    """A sentence encoder loaded from a Hugging Face model directory (aph_model): embed(texts)
    gives [n, embedding_dim] float32 embeddings, as sentence-transformers' encode does.

    The C model may be used by one thread at a time; this wrapper serialises embed and
    embed_tokens on one model with a lock (load one model per thread to embed in parallel).
    close() (or leaving a `with` block) releases it; tokenizer and executor keep it alive."""

    __slots__ = ("_progress", "_lock")
    _release_name = "aph_model_release"

    def __init__(self, directory: PathLike, device: DeviceLike = None, *, max_length: Optional[int] = None,
                 batch_size: Optional[int] = None, normalize: Optional[bool] = None,
                 progress: Optional[Callable[[int, int], None]] = None,
                 matmul_precision: Union[MatmulPrecision, str] = MatmulPrecision.F32) -> None:
        import threading

        prog = _Progress(progress) if progress is not None else None
        key = register(prog) if prog is not None else None
        opts = g.aph_model_options.new(
            device=as_device(device)._h if device is not None else None, max_length=int(max_length or 0),
            batch_size=int(batch_size or 0), normalize=_normalize_option(normalize),
            progress_user_data=key, matmul_precision=enum_value(MatmulPrecision, matmul_precision))
        if prog is not None:
            opts.progress = _progress_fn
        try:
            ptr = call_out(lib.aph_model_load, cstr(directory), ctypes.byref(opts))
        except BaseException:
            unregister(key)
            raise
        Handle.__init__(self, ptr, owned=False)
        self._finalizer = weakref.finalize(self, _release_model, ptr, key)
        self._progress = prog
        self._lock = threading.Lock()

    load = classmethod(lambda cls, directory, device=None, **kw: cls(directory, device, **kw))

    def __repr__(self) -> str:
        if self.closed:
            return "<aphelion.Model closed>"
        return (f"<aphelion.Model dim={self.embedding_dim} max_length={self.max_length} "
                f"pooling={self.pooling.name} normalizes={self.normalizes}>")

    # ---- what the directory configured
    @property
    def embedding_dim(self) -> int:
        """The size of one embedding (hidden_size: 384 for all-MiniLM-L6-v2)."""
        return lib.aph_model_embedding_dim(self._h)

    @property
    def max_length(self) -> int:
        """Tokens per text after truncation, [CLS]/[SEP] included."""
        return lib.aph_model_max_length(self._h)

    @property
    def pooling(self) -> Any:
        """Pooling.MEAN or Pooling.CLS."""
        return Pooling(lib.aph_model_pooling(self._h))

    @property
    def normalizes(self) -> bool:
        """Whether the embeddings are L2-normalised."""
        return bool(lib.aph_model_normalizes(self._h))

    # ---- the parts (each wrapper keeps the model alive: valid after model.close())
    def _keep_alive(self, obj: Handle) -> Any:
        ptr = self._h
        lib.aph_model_retain(ptr)
        obj._finalizer = weakref.finalize(obj, lib.aph_model_release, ptr)
        return obj

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer (truncation to max_length and padding to the longest text are
        its file defaults). Holds a reference to the model."""
        p = lib.aph_model_tokenizer(self._h)
        return self._keep_alive(Tokenizer._wrap(p, owned=False))

    @property
    def graph(self) -> Graph:
        """A copy of the encoder graph (inputs "input_ids" and "attention_mask", i64
        ["batch", "seq"]; output "embeddings", f32 ["batch", dim])."""
        return Graph._wrap(call_out(lib.aph_graph_clone, lib.aph_model_graph(self._h)))

    @property
    def executor(self) -> Executor:
        """The model's executor (weights bound). Holds a reference to the model. Running it while
        another thread embeds with this model is the caller's race."""
        e = Executor._wrap(lib.aph_model_executor(self._h), owned=False)
        e._inputs = {}
        return self._keep_alive(e)

    # ---- embedding
    def _call(self, fn: Callable[..., Any], *args: Any) -> Tensor:
        with self._lock:
            prog = self._progress
            if prog is not None:
                prog.error = None
            out = Tensor._wrap(call_out(fn, self._h, *args))
            if prog is not None and prog.error is not None:
                err, prog.error = prog.error, None
                out.close()
                raise err
        return out

    def embed_tensor(self, texts: Union[str, bytes, Sequence[Union[str, bytes]]]) -> Tensor:
        """embed() as an aphelion.Tensor (f32 [n, embedding_dim] on the CPU)."""
        data = _texts(texts)
        n = len(data)
        arr = (ctypes.c_char_p * max(n, 1))(*data)
        lens = (ctypes.c_size_t * max(n, 1))(*[len(d) for d in data])
        return self._call(lib.aph_model_embed, arr, lens, n)

    def embed(self, texts: Union[str, bytes, Sequence[Union[str, bytes]]]) -> Any:
        """Embeds texts (str, or UTF-8 bytes; one text or a sequence): a float32 numpy array
        [n, embedding_dim] (a zero-copy view of the library's tensor), row i for texts[i].
        Texts may hold NUL characters. An exception raised by the progress callback is raised
        here once the batch it interrupted has finished."""
        return self.embed_tensor(texts).numpy()

    def embed_tokens_tensor(self, input_ids: Any, attention_mask: Any) -> Tensor:
        """embed_tokens() as an aphelion.Tensor."""
        ids, mask = _token_tensor(input_ids), _token_tensor(attention_mask)
        return self._call(lib.aph_model_embed_tokens, ids, mask)

    def embed_tokens(self, input_ids: Any, attention_mask: Any) -> Any:
        """The encoder on the caller's tokens (int64 [batch, seq] each, any device; numpy
        integer arrays and nested lists are taken too): float32 numpy [batch, embedding_dim],
        pooled and normalised as embed."""
        return self.embed_tokens_tensor(input_ids, attention_mask).numpy()


def load_model(directory: PathLike, device: DeviceLike = None, max_length: Optional[int] = None,
               batch_size: Optional[int] = None, normalize: Optional[bool] = None,
               progress: Optional[Callable[[int, int], None]] = None,
               matmul_precision: Union[MatmulPrecision, str] = MatmulPrecision.F32) -> Model:
    """Loads a Hugging Face BERT-family model directory (config.json, model.safetensors,
    tokenizer.json, and sentence-transformers' modules.json / 1_Pooling / sentence_bert_config.json
    when present). device: None for the CPU. max_length, batch_size: None for the directory's /
    32. normalize: None as the directory says (a Normalize module), True always, False never.
    progress(done, total) is called after each batch of embed. matmul_precision: the encoder's
    linear layers on the CPU, "f32" (exact), "bf16" or "int8" (aph_matmul_precision: about 1.7x /
    2x faster, cosine to f32 above 0.9999 / 0.999). Errors: IoError (a missing file, naming it),
    InvalidConfigError, SerializationError, NotFoundError, InvalidArgumentError,
    NotImplementedError (bf16/int8 without AVX512_BF16/AVX512_VNNI, or off the CPU)."""
    return Model(directory, device, max_length=max_length, batch_size=batch_size, normalize=normalize,
                 progress=progress, matmul_precision=matmul_precision)
