"""The base of every wrapper of a C handle: exactly one release, whatever the order.

A wrapper owns one reference. close() (or leaving a `with` block) releases it at once; otherwise
a weakref.finalize releases it when the wrapper is collected (or at interpreter exit). The
finalizer runs at most once, so close() twice, close() then GC, or GC in any order between
wrappers (tensors keep their device and storage alive in C) never releases twice. A closed
wrapper raises ValueError on use. Borrowed wrappers (handed to a callback for its duration) own
nothing and are invalidated when the callback returns.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Optional, TypeVar

from ._lib import lib

T = TypeVar("T", bound="Handle")


class Handle:
    __slots__ = ("_ptr", "_finalizer", "__weakref__")
    _release_name: str = ""

    def __init__(self, ptr: int, owned: bool = True) -> None:
        if not ptr:
            raise ValueError(f"{type(self).__name__}: NULL handle")
        self._ptr: Optional[int] = ptr
        self._finalizer: Optional[weakref.finalize] = None
        if owned:
            self._finalizer = weakref.finalize(self, getattr(lib, self._release_name), ptr)

    @classmethod
    def _wrap(cls, ptr: int, owned: bool = True) -> Any:
        obj = cls.__new__(cls)
        Handle.__init__(obj, ptr, owned)
        return obj

    @property
    def _h(self) -> int:
        p = self._ptr
        if p is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return p

    @property
    def _as_parameter_(self) -> int:
        return self._h

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Releases the handle now (idempotent). Objects made from it stay valid where the C API
        says they keep it alive (tensors keep their device, views their storage, ...)."""
        self._ptr = None
        if self._finalizer is not None:
            self._finalizer()

    def _invalidate(self) -> None:
        """For borrowed wrappers: unusable from now on (owns nothing)."""
        self._ptr = None

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._ptr == self._ptr and self._ptr is not None  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._ptr))


def out_handle() -> Any:
    import ctypes

    return ctypes.c_void_p()


def call_out(fn: Callable[..., Any], *args: Any) -> int:
    """Calls fn(*args, &out) and returns out (a new reference)."""
    import ctypes

    out = ctypes.c_void_p()
    fn(*args, ctypes.byref(out))
    return out.value  # type: ignore[return-value]
