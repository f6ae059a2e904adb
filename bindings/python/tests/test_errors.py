"""One exception class per status, with the status and the thread's message."""
import threading

import numpy as np
import pytest

import aphelion
from aphelion import Status

# Each status the library can be made to return, by a real failing call.
CASES = [
    (Status.ERR_INVALID_ARGUMENT, aphelion.InvalidArgumentError, lambda: aphelion.to_dtype("nope"),
     "Unknown dtype: nope"),
    (Status.ERR_SHAPE_MISMATCH, aphelion.ShapeMismatchError,
     lambda: aphelion.relu(aphelion.zeros([2, 3]), out=aphelion.zeros([3, 2])), "shape mismatch: expected [2, 3]"),
    (Status.ERR_DIMENSION_MISMATCH, aphelion.DimensionMismatchError,
     lambda: aphelion.matmul(aphelion.zeros([2, 3]), aphelion.zeros([4, 5])), "dimension mismatch"),
    (Status.ERR_DEVICE_NOT_AVAILABLE, aphelion.DeviceNotAvailableError, lambda: aphelion.Device("cuda:7"),
     "device not available: cuda:7"),
    (Status.ERR_OUT_OF_MEMORY, aphelion.OutOfMemoryError, lambda: aphelion.Tracker(5).allocate(10),
     "out of memory: allocation of 10 bytes would exceed limit of 5 bytes"),
    (Status.ERR_IO, aphelion.IoError, lambda: aphelion.Graph.load("/nonexistent/g.json"), "I/O error"),
    (Status.ERR_SERIALIZATION, aphelion.SerializationError, lambda: aphelion.Graph.from_json("{"),
     "serialization error"),
    (Status.ERR_VALIDATION, aphelion.ValidationError, lambda: aphelion.validate_name(""),
     "validation error: Name cannot be empty"),
    (Status.ERR_INVALID_CONFIG, aphelion.InvalidConfigError, lambda: aphelion.ModelConfig("m").get_int("lr"),
     "invalid configuration: missing parameter 'lr'"),
    (Status.ERR_NOT_FOUND, aphelion.NotFoundError, lambda: aphelion.Pipeline.preset("huge"), "not found"),
    (Status.ERR_BUILD, aphelion.BuildError, lambda: _cyclic().topological_sort(), "build error"),
    (Status.ERR_GRAPH, aphelion.GraphError, lambda: _unknown_op_executor(), "graph error"),
    (Status.ERR_INVALID_STATE, aphelion.InvalidStateError, lambda: _unbound_run(), "invalid state"),
]


def _cyclic():
    g = aphelion.Graph()
    a = g.add_node("a", "relu")
    b = g.add_node("b", "relu")
    g.add_edge(a, b)
    g.add_edge(b, a)
    return g


def _unknown_op_executor():
    g = aphelion.Graph()
    g.add_node("x", "frobnicate")
    aphelion.Executor(g)


def _unbound_run(small=None):
    import os
    from conftest import SOURCE

    ex = aphelion.Executor(aphelion.Graph.load(os.path.join(SOURCE, "bench", "ffi", "small.json")))
    ex.run()


@pytest.mark.parametrize("status,cls,call,text", CASES, ids=[c[0].name for c in CASES])
def test_status_classes(status, cls, call, text):
    with pytest.raises(cls) as info:
        call()
    e = info.value
    assert type(e) is cls and isinstance(e, aphelion.Error)
    assert e.status == status and e.STATUS == status
    assert text in e.message and str(e) == e.message
    assert e.status_name == "APH_" + status.name
    assert aphelion.last_error() == e.message


def test_every_status_has_a_class():
    for s in Status:
        if s == Status.OK:
            continue
        cls = aphelion.error_class(s)
        assert cls is not aphelion.Error and cls.STATUS == s
        assert cls.__name__.endswith("Error")


def test_python_bases():
    assert issubclass(aphelion.InvalidArgumentError, ValueError)
    assert issubclass(aphelion.NotFoundError, LookupError)
    assert issubclass(aphelion.OutOfMemoryError, MemoryError)
    assert issubclass(aphelion.IoError, OSError)
    assert issubclass(aphelion.NotImplementedError, NotImplementedError)  # the builtin
    e = aphelion.errors.make_error(10, "I/O error: x")
    assert str(e) == "I/O error: x" and e.status == Status.ERR_IO
    u = aphelion.errors.make_error(99, "future")
    assert type(u) is aphelion.Error and int(u.status) == 99


def test_not_implemented_status():
    # a valid dtype the library does not import through DLPack (complex): APH_ERR_NOT_IMPLEMENTED
    with pytest.raises(aphelion.NotImplementedError) as info:
        aphelion.from_dlpack(np.zeros(3, np.complex64))
    assert info.value.status == Status.ERR_NOT_IMPLEMENTED


def test_messages_never_mix_between_threads():
    """Each thread fails with its own message, many times, concurrently."""
    errors = []
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        for k in range(300):
            want = f"no-such-dtype-{i}-{k}"
            try:
                aphelion.to_dtype(want)
            except aphelion.InvalidArgumentError as e:
                if e.message != f"Unknown dtype: {want}":
                    errors.append((want, e.message))
            else:
                errors.append((want, "no error"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
