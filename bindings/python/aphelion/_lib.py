"""Finding and loading libaphelion, binding the generated declarations, turning statuses into
exceptions, and the plumbing shared by every callback.

Lookup order (the first that loads wins; each failure is listed in the error):
  1. the environment variable APHELION_LIBRARY: a path to libaphelion.so.N;
  2. a library bundled inside this package (the self-contained wheel: aphelion/_lib/lib*/);
  3. the loader's paths: libaphelion.so.0 (LD_LIBRARY_PATH, ld.so.cache, ...), then whatever
     ctypes.util.find_library("aphelion") finds.
The library's major.minor must equal the header's this binding was generated from.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
import threading
import traceback
from typing import Any, Callable, Dict, List, Optional

from . import _generated as g
from .errors import LibraryNotFoundError, VersionMismatchError, make_error

SONAME = "libaphelion.so.0"
HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates() -> List[str]:
    out = []
    env = os.environ.get("APHELION_LIBRARY")
    if env:
        return [env]  # an explicit choice: nothing else is tried
    for pattern in ("_lib/lib*/libaphelion.so.*", "_lib/libaphelion.so.*", "libaphelion.so.*"):
        out.extend(sorted(glob.glob(os.path.join(HERE, pattern))))
    out.append(SONAME)
    found = ctypes.util.find_library("aphelion")
    if found:
        out.append(found)
    return out


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"  {path}: {e}")
    where = "APHELION_LIBRARY" if os.environ.get("APHELION_LIBRARY") else "the bundled copy and the loader's paths"
    raise LibraryNotFoundError(
        "aphelion: cannot load libaphelion (looked in " + where + "):\n" + "\n".join(errors) +
        "\nSet APHELION_LIBRARY to the path of libaphelion.so.0, add its directory to LD_LIBRARY_PATH, "
        "or install the self-contained wheel.")


lib = _load()
PATH: str = getattr(lib, "_name", "")

# Version check before anything else is bound.
lib.aph_version.restype = None
lib.aph_version.argtypes = [ctypes.POINTER(ctypes.c_int)] * 3
_maj, _min, _pat = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
lib.aph_version(ctypes.byref(_maj), ctypes.byref(_min), ctypes.byref(_pat))
LIBRARY_VERSION = (_maj.value, _min.value, _pat.value)
if LIBRARY_VERSION[:2] != g.HEADER_VERSION[:2]:
    raise VersionMismatchError(
        f"aphelion: the Python binding was written for libaphelion {g.HEADER_VERSION[0]}.{g.HEADER_VERSION[1]}.x "
        f"(header {'.'.join(map(str, g.HEADER_VERSION))}), but {PATH} is version "
        f"{'.'.join(map(str, LIBRARY_VERSION))}; install a matching library or binding.")

# ---------------------------------------------------------------------------------------------
# Errors. The errcheck runs right after the foreign call on the same thread, before any other
# call into the library, so aph_last_error() is that call's message (header rule 4).

lib.aph_last_error.restype = ctypes.c_char_p
lib.aph_last_error.argtypes = []
_last_error = lib.aph_last_error

_tls = threading.local()


def _pending_exception(message: str) -> Optional[BaseException]:
    pending = getattr(_tls, "exc", None)
    _tls.exc = None
    if pending is not None and pending[1] and pending[1] in message:
        return pending[0]
    return None


def _errcheck(result: int, func: Any, args: Any) -> int:
    if result != 0:
        message = _last_error().decode("utf-8", "replace")
        err = make_error(result, message)
        cause = _pending_exception(message)
        if cause is not None:
            raise err from cause
        raise err
    return result


MISSING: List[str] = []


def _bind() -> None:
    for name, (restype, argtypes, status) in g.FUNCTIONS.items():
        try:
            f = getattr(lib, name)
        except AttributeError:
            MISSING.append(name)
            continue
        f.restype = restype
        f.argtypes = argtypes
        if status:
            f.errcheck = _errcheck


_bind()


class _Raw:
    """aphelion.raw: every function of the header by its C name, bound with argtypes, restype and
    the status errcheck. For what the idiomatic layer does not cover; handles are integers."""

    def __getattr__(self, name: str) -> Any:
        if name in MISSING:
            raise AttributeError(f"{name} is declared in the header this binding was generated from, but {PATH} "
                                 f"(version {'.'.join(map(str, LIBRARY_VERSION))}) does not export it")
        if name not in g.FUNCTIONS:
            raise AttributeError(name)
        return getattr(lib, name)

    def __dir__(self) -> List[str]:
        return sorted(g.FUNCTIONS)


raw = _Raw()


def status_name(status: int) -> str:
    return lib.aph_status_name(status).decode()


def take_string(p: ctypes.c_void_p) -> str:
    """A char* the library allocated for us: decoded, then freed with aph_string_free."""
    if not p.value:
        return ""
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        lib.aph_string_free(p.value)


def cstr(s: Optional[str]) -> Optional[bytes]:
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode("utf-8")


def shape_array(shape) -> Any:
    shape = [int(d) for d in shape]
    return (ctypes.c_int64 * max(len(shape), 1))(*shape), len(shape)


# ---------------------------------------------------------------------------------------------
# Callbacks. One ctypes trampoline per callback type lives for the life of the process; the
# Python callable travels as user_data, an integer key into this registry, removed by the C
# side's destroy callback (or by the owner that registered it). A callback never lets an
# exception cross into C: it becomes a failing status with aph_set_last_error's message, and the
# exception is kept on the thread so the outer call's aphelion.Error can chain it (__cause__).

_registry: Dict[int, Any] = {}
_registry_lock = threading.Lock()
_next_key = [1]


def register(obj: Any) -> int:
    with _registry_lock:
        key = _next_key[0]
        _next_key[0] += 1
        _registry[key] = obj
        return key


def lookup(key: Optional[int]) -> Any:
    return _registry.get(key or 0)


def unregister(key: Optional[int]) -> None:
    with _registry_lock:
        _registry.pop(key or 0, None)


def _destroy(user_data: Optional[int]) -> None:
    unregister(user_data)


destroy_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_destroy)


def report_exception(exc: BaseException, where: str) -> int:
    """Turns an exception raised inside a callback into a failing status (the exception's own for
    an aphelion.Error, else APH_ERR_BACKEND) with a message naming it."""
    from .errors import Error

    if isinstance(exc, Error):
        status = int(exc.status) if int(exc.status) != 0 else int(g.Status.ERR_BACKEND)
        message = exc.message
    else:
        status = int(g.Status.ERR_BACKEND)
        message = f"{where} raised {type(exc).__name__}: {exc}"
    _tls.exc = (exc, message)
    try:
        lib.aph_set_last_error(status, message.encode("utf-8", "replace"))
    except Exception:  # pragma: no cover - never let anything escape into C
        pass
    return status


def unraisable(exc: BaseException, where: str) -> None:
    """A callback that returns nothing (log, trace, progress, deleter) failed: reported through
    sys.unraisablehook, as Python reports exceptions in finalizers."""
    try:
        sys.unraisablehook(_Unraisable(exc, where))  # type: ignore[arg-type]
    except Exception:  # pragma: no cover
        traceback.print_exception(exc)


class _Unraisable:
    def __init__(self, exc: BaseException, where: str) -> None:
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = f"Exception ignored in aphelion {where} callback"
        self.object = None


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for trampolines returning nothing: exceptions go to sys.unraisablehook."""

    def wrapper(*args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - nothing may cross into C
            unraisable(exc, fn.__name__.lstrip("_"))

    wrapper.__name__ = fn.__name__
    return wrapper


def enum_value(cls: Any, v: Any) -> int:
    """An enum argument as its C value: a member, an int, or a member's name in any case
    ("gelu", "BF16"); an unknown name is ValueError naming the choices."""
    if isinstance(v, str):
        try:
            return int(cls[v.upper()])
        except KeyError:
            raise ValueError(f"{v!r} is not a {cls.__name__} ({', '.join(m.name.lower() for m in cls)})") from None
    return int(v)
