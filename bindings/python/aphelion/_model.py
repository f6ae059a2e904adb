"""Text encoders from Hugging Face directories (header section 23, the model API).

Written against /work/notes/model-api.md's declarations. The generated table has them once the
header does (python3 bindings/gen/generate.py python after merging); until then importing this
module raises ImportError and aphelion does not export Model / load_model.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, List, Optional, Sequence, Union

from . import _generated as g
from ._device import Device, DeviceLike, as_device
from ._executor import Executor
from ._graph import Graph, PathLike
from ._handle import Handle, call_out
from ._lib import cstr, guard, lib, lookup, register, unregister
from ._files import Tokenizer
from ._tensor import Tensor, as_tensor

if "aph_model_load" not in g.FUNCTIONS or not hasattr(g, "aph_model_options"):
    raise ImportError("the header this binding was generated from has no model API (section 23)")

Pooling = g.Pooling  # type: ignore[attr-defined]


@guard
def _progress(user_data: Optional[int], done: int, total: int) -> None:
    fn = lookup(user_data)
    if fn is not None:
        fn(done, total)


_progress_fn = g.aph_model_progress_fn(_progress)  # type: ignore[attr-defined]


class Model(Handle):
    """A sentence encoder loaded from a model directory (aph_model): embed(texts) gives
    [n, dim] float32 embeddings. One thread at a time per model (one executor)."""

    __slots__ = ("_progress_key",)
    _release_name = "aph_model_release"

    def __init__(self, directory: PathLike, device: DeviceLike = None, *, max_length: Optional[int] = None,
                 batch_size: Optional[int] = None, normalize: Optional[bool] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> None:
        key = register(progress) if progress is not None else None
        dev = as_device(device) if device is not None else None
        opts = g.aph_model_options.new(  # type: ignore[attr-defined]
            device=dev._h if dev is not None else None, max_length=int(max_length or 0),
            batch_size=int(batch_size or 0), normalize=-1 if normalize is None else int(bool(normalize)),
            progress=_progress_fn if progress is not None else None, progress_user_data=key)
        if progress is None:
            opts.progress = g.aph_model_progress_fn()  # type: ignore[attr-defined]
        try:
            super().__init__(call_out(lib.aph_model_load, cstr(directory), ctypes.byref(opts)))
        except BaseException:
            unregister(key)
            raise
        self._progress_key = key
        if key is not None:
            import weakref

            weakref.finalize(self, unregister, key)

    @property
    def embedding_dim(self) -> int:
        return lib.aph_model_embedding_dim(self._h)

    @property
    def max_length(self) -> int:
        return lib.aph_model_max_length(self._h)

    @property
    def pooling(self) -> Any:
        return Pooling(lib.aph_model_pooling(self._h))

    @property
    def normalizes(self) -> bool:
        return bool(lib.aph_model_normalizes(self._h))

    @property
    def tokenizer(self) -> Tokenizer:
        """Borrowed from the model: valid while the model lives (do not close it)."""
        return Tokenizer._wrap(lib.aph_model_tokenizer(self._h), owned=False)

    @property
    def graph(self) -> Graph:
        """A copy of the encoder graph."""
        return Graph._wrap(call_out(lib.aph_graph_clone, lib.aph_model_graph(self._h)))

    @property
    def executor(self) -> Executor:
        p = lib.aph_model_executor(self._h)
        lib.aph_executor_retain(p)
        return Executor._from_ref(p)

    def embed_tensor(self, texts: Union[str, Sequence[str]]) -> Tensor:
        if isinstance(texts, str):
            texts = [texts]
        data = [t.encode("utf-8") for t in texts]
        n = len(data)
        arr = (ctypes.c_char_p * max(n, 1))(*data)
        lens = (ctypes.c_size_t * max(n, 1))(*[len(d) for d in data])
        return Tensor._wrap(call_out(lib.aph_model_embed, self._h, arr, lens, n))

    def embed(self, texts: Union[str, Sequence[str]]) -> Any:
        """float32 numpy array [n, embedding_dim] (a zero-copy view of the library's tensor)."""
        return self.embed_tensor(texts).numpy()

    def embed_tokens(self, input_ids: Any, attention_mask: Any) -> Any:
        ids, mask = as_tensor(input_ids), as_tensor(attention_mask)
        return Tensor._wrap(call_out(lib.aph_model_embed_tokens, self._h, ids, mask)).numpy()


def load_model(directory: PathLike, device: DeviceLike = None, max_length: Optional[int] = None,
               batch_size: Optional[int] = None, normalize: Optional[bool] = None,
               progress: Optional[Callable[[int, int], None]] = None) -> Model:
    return Model(directory, device, max_length=max_length, batch_size=batch_size, normalize=normalize,
                 progress=progress)
