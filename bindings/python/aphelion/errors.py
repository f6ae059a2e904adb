"""Exceptions: one class per aph_status, all subclasses of aphelion.Error.

Every failing call raises the class of its status, carrying the status and the message of
aph_last_error(), read on the calling thread right after the call (before any other call into
the library), so threads never see each other's messages. An unknown (newer) status raises
Error itself, with the number kept in .status.
"""
from __future__ import annotations

from typing import Dict, Optional, Type

from ._generated import Status

__all__ = [
    "Error",
    "InvalidArgumentError",
    "InvalidConfigError",
    "ShapeMismatchError",
    "DimensionMismatchError",
    "DeviceNotAvailableError",
    "DeviceMismatchError",
    "OutOfMemoryError",
    "KernelError",
    "NotImplementedError",
    "IoError",
    "BackendError",
    "GraphError",
    "ValidationError",
    "SerializationError",
    "BuildError",
    "InternalError",
    "NotFoundError",
    "InvalidStateError",
    "LibraryNotFoundError",
    "VersionMismatchError",
]


class Error(Exception):
    """A failing libaphelion call. .status is the aph_status (a Status member, or a
    Status(N) pseudo-member for a code this binding does not know); .message the library's
    message ("shape mismatch: expected [2, 3], got [3, 2]")."""

    #: The status this class stands for (None for the base class).
    STATUS: Optional[Status] = None

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        if status is None:
            status = self.STATUS if self.STATUS is not None else Status.ERR_INTERNAL
        self.status: Status = Status(int(status))
        self.message: str = message
        super().__init__(message)

    @property
    def status_name(self) -> str:
        """The C enum name: "APH_ERR_INVALID_ARGUMENT" (APH_ERR_UNKNOWN for a newer code)."""
        from . import _lib

        return _lib.status_name(int(self.status))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={int(self.status)})"


def _make(name: str, status: Status, bases: tuple, doc: str) -> Type[Error]:
    return type(name, bases, {"STATUS": status, "__doc__": doc, "__module__": __name__})


InvalidArgumentError = _make("InvalidArgumentError", Status.ERR_INVALID_ARGUMENT, (Error, ValueError),
                             "APH_ERR_INVALID_ARGUMENT: a caller error (NULL, range, read-only, ...). Also a ValueError.")
InvalidConfigError = _make("InvalidConfigError", Status.ERR_INVALID_CONFIG, (Error,), "APH_ERR_INVALID_CONFIG.")
ShapeMismatchError = _make("ShapeMismatchError", Status.ERR_SHAPE_MISMATCH, (Error, ValueError),
                           "APH_ERR_SHAPE_MISMATCH. Also a ValueError.")
DimensionMismatchError = _make("DimensionMismatchError", Status.ERR_DIMENSION_MISMATCH, (Error, ValueError),
                               "APH_ERR_DIMENSION_MISMATCH. Also a ValueError.")
DeviceNotAvailableError = _make("DeviceNotAvailableError", Status.ERR_DEVICE_NOT_AVAILABLE, (Error,),
                                "APH_ERR_DEVICE_NOT_AVAILABLE (\"device not available: cuda:3\").")
DeviceMismatchError = _make("DeviceMismatchError", Status.ERR_DEVICE_MISMATCH, (Error,), "APH_ERR_DEVICE_MISMATCH.")
OutOfMemoryError = _make("OutOfMemoryError", Status.ERR_OUT_OF_MEMORY, (Error, MemoryError),
                         "APH_ERR_OUT_OF_MEMORY (devices, budgets, trackers). Also a MemoryError.")
KernelError = _make("KernelError", Status.ERR_KERNEL, (Error,), "APH_ERR_KERNEL.")
NotImplementedError = _make("NotImplementedError", Status.ERR_NOT_IMPLEMENTED, (Error, NotImplementedError),
                            "APH_ERR_NOT_IMPLEMENTED. aphelion.NotImplementedError shadows the builtin only "
                            "inside this module and subclasses it, so `except NotImplementedError` catches it.")
IoError = _make("IoError", Status.ERR_IO, (Error, OSError),
                "APH_ERR_IO (\"I/O error: {path}: {reason}\"). Also an OSError (errno is not set).")
BackendError = _make("BackendError", Status.ERR_BACKEND, (Error,), "APH_ERR_BACKEND: an underlying library failed.")
GraphError = _make("GraphError", Status.ERR_GRAPH, (Error,), "APH_ERR_GRAPH.")
ValidationError = _make("ValidationError", Status.ERR_VALIDATION, (Error, ValueError),
                        "APH_ERR_VALIDATION. Also a ValueError.")
SerializationError = _make("SerializationError", Status.ERR_SERIALIZATION, (Error, ValueError),
                           "APH_ERR_SERIALIZATION (malformed JSON, safetensors, ...). Also a ValueError.")
BuildError = _make("BuildError", Status.ERR_BUILD, (Error,), "APH_ERR_BUILD.")
InternalError = _make("InternalError", Status.ERR_INTERNAL, (Error,), "APH_ERR_INTERNAL: a bug in libaphelion.")
NotFoundError = _make("NotFoundError", Status.ERR_NOT_FOUND, (Error, LookupError),
                      "APH_ERR_NOT_FOUND: a named input, output, weight, node, key, ... that does not exist. "
                      "Also a LookupError (not KeyError, whose str() quotes the message).")
InvalidStateError = _make("InvalidStateError", Status.ERR_INVALID_STATE, (Error,),
                          "APH_ERR_INVALID_STATE: a call in the wrong order.")


class LibraryNotFoundError(ImportError):
    """libaphelion could not be found or loaded (the message lists where it looked)."""


class VersionMismatchError(ImportError):
    """The loaded libaphelion's major.minor is not the one this binding was written for."""


_BY_STATUS: Dict[int, Type[Error]] = {
    int(c.STATUS): c
    for c in (InvalidArgumentError, InvalidConfigError, ShapeMismatchError, DimensionMismatchError,
              DeviceNotAvailableError, DeviceMismatchError, OutOfMemoryError, KernelError, NotImplementedError,
              IoError, BackendError, GraphError, ValidationError, SerializationError, BuildError, InternalError,
              NotFoundError, InvalidStateError)
}


def error_class(status: int) -> Type[Error]:
    """The exception class of a status (Error for a status this binding does not know)."""
    return _BY_STATUS.get(int(status), Error)


def make_error(status: int, message: str) -> Error:
    cls = error_class(status)
    err = cls(message)  # one argument: OSError's constructor would read two as (errno, strerror)
    err.status = Status(int(status))
    return err
