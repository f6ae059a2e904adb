"""safetensors files (section 21) and tokenizers (section 22)."""
from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _generated as g
from ._device import DeviceLike, as_device
from ._generated import DType, Padding, Truncation
from ._graph import PathLike
from ._handle import Handle, call_out
from ._lib import cstr, enum_value, lib, take_string
from ._tensor import Tensor, as_tensor


class SafetensorsFile(Handle):
    """A memory-mapped safetensors file (aph_safetensors); readable from any thread. CPU tensors
    from it are read-only views of the mapping (no copy) and keep it alive after close()."""

    __slots__ = ()
    _release_name = "aph_safetensors_release"

    def __init__(self, path: PathLike) -> None:
        super().__init__(call_out(lib.aph_safetensors_open, cstr(path)))

    def names(self) -> List[str]:
        h = self._h
        return [lib.aph_safetensors_name(h, i).decode("utf-8", "replace") for i in range(lib.aph_safetensors_count(h))]

    def keys(self) -> List[str]:
        return self.names()

    def __len__(self) -> int:
        return lib.aph_safetensors_count(self._h)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def metadata(self) -> Dict[str, str]:
        out = ctypes.c_void_p()
        lib.aph_safetensors_metadata(self._h, ctypes.byref(out))
        return json.loads(take_string(out))

    def info(self, name: str) -> Tuple[DType, Tuple[int, ...]]:
        dt, nd = ctypes.c_int(), ctypes.c_size_t()
        lib.aph_safetensors_info(self._h, cstr(name), ctypes.byref(dt), None, 0, ctypes.byref(nd))
        shape = (ctypes.c_int64 * max(nd.value, 1))()
        lib.aph_safetensors_info(self._h, cstr(name), None, shape, nd.value, ctypes.byref(nd))
        return DType(dt.value), tuple(shape[: nd.value])

    def tensor(self, name: str, device: DeviceLike = None) -> Tensor:
        return Tensor._wrap(call_out(lib.aph_safetensors_tensor, self._h, cstr(name), as_device(device)))

    __getitem__ = tensor


def load_safetensors(path: PathLike, device: DeviceLike = None) -> Dict[str, Tensor]:
    with SafetensorsFile(path) as f:
        return {n: f.tensor(n, device) for n in f.names()}


def save_safetensors(path: PathLike, tensors: Mapping[str, Any], metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes tensors (Tensors or numpy arrays) in the reference writer's layout."""
    items = [(k, as_tensor(v)) for k, v in tensors.items()]
    names = (ctypes.c_char_p * max(len(items), 1))(*[cstr(k) for k, _ in items])
    ptrs = (ctypes.c_void_p * max(len(items), 1))(*[t._h for _, t in items])
    lib.aph_safetensors_save(cstr(path), names, ptrs, len(items),
                             cstr(json.dumps(dict(metadata))) if metadata is not None else None)


_enum = enum_value


class Tokenizer(Handle):
    """A Hugging Face tokenizer.json (WordPiece/BERT family), giving exactly the `tokenizers`
    library's ids. Immutable: any number of threads may use it at once."""

    __slots__ = ()
    _release_name = "aph_tokenizer_release"

    def __init__(self, path: PathLike) -> None:
        super().__init__(call_out(lib.aph_tokenizer_load, cstr(path)))

    load = classmethod(lambda cls, path: cls(path))

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Tokenizer":
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return cls._wrap(call_out(lib.aph_tokenizer_load_json, data, len(data)))

    @property
    def vocab_size(self) -> int:
        return lib.aph_tokenizer_vocab_size(self._h)

    @property
    def max_length(self) -> int:
        return lib.aph_tokenizer_max_length(self._h)

    @property
    def special_token_count(self) -> int:
        return lib.aph_tokenizer_special_token_count(self._h)

    def token_to_id(self, token: str) -> Optional[int]:
        i = lib.aph_tokenizer_token_to_id(self._h, cstr(token))
        return None if i < 0 else i

    def id_to_token(self, id: int) -> Optional[str]:  # noqa: A002
        p = lib.aph_tokenizer_id_to_token(self._h, int(id))
        return None if p is None else p.decode("utf-8")

    @staticmethod
    def _options(truncation: Any, max_length: Optional[int], padding: Any, pad_length: Optional[int],
                 pad_to_multiple_of: int, add_special_tokens: bool) -> Any:
        if truncation is None:
            truncation = Truncation.MAX_LENGTH if max_length else Truncation.FROM_FILE
        if padding is None:
            padding = Padding.FIXED if pad_length else Padding.FROM_FILE
        return g.aph_tokenizer_encode_options.new(
            truncation=_enum(Truncation, truncation), max_length=int(max_length or 0), padding=_enum(Padding, padding),
            pad_length=int(pad_length or 0), pad_to_multiple_of=int(pad_to_multiple_of),
            no_special_tokens=int(not add_special_tokens))

    def encode(self, texts: Union[str, Sequence[str]], *, truncation: Any = None, max_length: Optional[int] = None,
               padding: Any = None, pad_length: Optional[int] = None, pad_to_multiple_of: int = 0,
               add_special_tokens: bool = True, device: DeviceLike = None) -> Dict[str, Any]:
        """Model inputs for a batch: {"input_ids", "attention_mask", "token_type_ids"} (i64
        [count, length] Tensors) and "lengths" (tokens per text, padding excluded). Defaults
        are the file's truncation and padding, as tokenizers' encode_batch."""
        if isinstance(texts, str):
            texts = [texts]
        data = [t.encode("utf-8") for t in texts]
        n = len(data)
        arr = (ctypes.c_char_p * max(n, 1))(*data)
        lens = (ctypes.c_size_t * max(n, 1))(*[len(d) for d in data])
        opts = self._options(truncation, max_length, padding, pad_length, pad_to_multiple_of, add_special_tokens)
        ids, mask, types = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        out_lens = (ctypes.c_size_t * max(n, 1))()
        lib.aph_tokenizer_encode(self._h, arr, lens, n, ctypes.byref(opts), as_device(device), ctypes.byref(ids),
                                 ctypes.byref(mask), ctypes.byref(types), out_lens, n)
        return {"input_ids": Tensor._wrap(ids.value), "attention_mask": Tensor._wrap(mask.value),
                "token_type_ids": Tensor._wrap(types.value), "lengths": list(out_lens[:n])}

    def encode_ids(self, text: str, *, truncation: Any = None, max_length: Optional[int] = None, padding: Any = None,
                   pad_length: Optional[int] = None, pad_to_multiple_of: int = 0,
                   add_special_tokens: bool = True) -> List[int]:
        """One text's ids, as encode gives its row (the file's padding applies: pass
        padding="longest" for no pad ids)."""
        data = text.encode("utf-8")
        opts = self._options(truncation, max_length, padding, pad_length, pad_to_multiple_of, add_special_tokens)
        count = ctypes.c_size_t()
        lib.aph_tokenizer_encode_ids(self._h, data, len(data), ctypes.byref(opts), None, 0, ctypes.byref(count))
        buf = (ctypes.c_int64 * max(count.value, 1))()
        lib.aph_tokenizer_encode_ids(self._h, data, len(data), ctypes.byref(opts), buf, count.value,
                                     ctypes.byref(count))
        return list(buf[: count.value])
