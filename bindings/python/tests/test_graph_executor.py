"""Graphs, executors, pipelines with Python stages and hooks, trace sinks, custom operations,
logging, and threads running executors in parallel."""
import json
import logging
import threading

import numpy as np
import pytest

import aphelion


def mlp_graph():
    g = aphelion.Graph()
    x = g.add_node("x", "input", {"shape": ["batch", 4], "dtype": "f32"})
    w = g.add_node("w", "weight", {"shape": [3, 4]})
    lin = g.add_node("fc", "linear", inputs=(x, w))
    act = g.add_node("act", "relu", inputs=(lin,))
    g.add_node("y", "output", inputs=(act,))
    return g


def test_graph_build_hash_dot_json(small_json, tmp_path):
    g = aphelion.Graph.load(small_json)
    assert g.node_count == 3 and g.edges == [(1, 2), (2, 3)]
    assert [n.op for n in g.nodes] == ["input", "relu", "output"]
    assert g.nodes[0].params == {"dtype": "f32", "shape": [1, 16]}
    h = g.hash()
    assert len(h) == 64 and h == aphelion.Graph.from_json(g.to_json()).hash()
    assert g.to_dot().startswith("digraph BuildGraph {\n") and '"1" -> "2";' in g.to_dot()
    assert json.loads(g.to_json(pretty=True)) == json.loads(open(small_json).read())
    p = tmp_path / "g.json"
    g.save(p)
    assert aphelion.Graph.load(p).hash() == h
    g2 = g.clone()
    g2.set_metadata(1, "note", {"a": 1})
    assert g2.metadata(1) == {"note": {"a": 1}} and g2.hash() == h  # metadata is not hashed
    assert g2.find_node("act") == 2 and g2.topological_sort() == [1, 2, 3] and not g2.has_cycle()
    with pytest.raises(aphelion.NotFoundError, match="names node 9"):
        g2.add_edge(1, 9)


def test_executor_run_symbolic_and_signatures():
    g = mlp_graph()
    ex = aphelion.Executor(g, "cpu")
    assert [i.name for i in ex.inputs] == ["x"] and ex.inputs[0].dim_names == ("batch", None)
    assert ex.inputs[0].shape == (-1, 4) and ex.weights[0].shape == (3, 4)
    w = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    ex.set_weight("w", w)
    for batch in (2, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 4)).astype(np.float32)
        out = ex.run({"x": x})
        np.testing.assert_allclose(out["y"].numpy(), np.maximum(x @ w.T, 0), rtol=1e-5, atol=1e-6)
    assert ex.run_count == 2 and ex.symbols() == {"batch": -1} or ex.symbols()["batch"] in (-1, 5)
    info = ex.plan_info()
    assert info["plans_made"] == 2 and info["total_bytes"] > 0
    assert [s.op for s in ex.node_stats()][-1] == "output"
    with pytest.raises(aphelion.NotFoundError, match="no input node named 'nope'"):
        ex.set_input("nope", np.zeros((1, 4), np.float32))
    with pytest.raises(aphelion.ShapeMismatchError):
        ex.set_input("x", np.zeros((2, 5), np.float32))
    # bind_output: the run writes into the caller's tensor
    x = np.ones((2, 4), np.float32)
    y = aphelion.zeros([2, 3])
    ex.bind_output("y", y)
    ex.run(x=x)
    np.testing.assert_allclose(y.numpy(), np.maximum(x @ w.T, 0), rtol=1e-5)


def test_executors_in_threads_run_in_parallel(small_json):
    """Separate executors on separate threads; the GIL is released during runs (ctypes)."""
    errors = []

    def work(seed):
        try:
            ex = aphelion.Executor(aphelion.Graph.load(small_json))
            rng = np.random.default_rng(seed)
            for _ in range(200):
                x = rng.standard_normal((1, 16)).astype(np.float32)
                y = ex.run({"x": x})["y"].numpy()
                if not np.array_equal(y, np.maximum(x, 0)):
                    errors.append(seed)
        except Exception as e:  # pragma: no cover
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_gil_released_during_long_calls():
    """A Python thread keeps running while another is inside a long matmul."""
    a = aphelion.tensor(np.random.default_rng(1).standard_normal((768, 768)).astype(np.float32))
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        while not ticks:  # the ticker runs
            pass
        import time

        during = 0
        deadline = time.monotonic() + 10
        while during == 0 and time.monotonic() < deadline:  # loaded machines: keep trying a while
            n0 = len(ticks)
            for _ in range(5):
                aphelion.matmul(a, a)
            during = len(ticks) - n0
    finally:
        stop.set()
        t.join()
    assert during > 0


def test_pipeline_python_stages_hooks_progress_and_trace(small_json):
    sink = aphelion.TraceSink()
    ctx = aphelion.BuildContext("cpu", sink)
    seen = []
    p = aphelion.Pipeline.preset("run")
    p.add_pre_hook(lambda c, g: seen.append(("pre", g.node_count)))

    def stage(c, g):
        seen.append(("stage", c.device.label))
        c.trace("custom.stage", "hello from python")

    p.add_stage("mine", stage)
    p.add_post_hook(lambda c, g: seen.append(("post", g.hash()[:8])))
    progress = []
    p.on_progress(lambda name, i, n: progress.append((name, i, n)))
    ctx.set_input("x", np.full((1, 16), -1.0, np.float32))
    g = aphelion.Graph.load(small_json)
    p.run(ctx, g)
    assert seen[0] == ("pre", 3) and seen[1] == ("stage", "cpu") and seen[2][0] == "post"
    assert progress[-1] == ("mine", 6, 6) and [n for n, _, _ in progress][:2] == ["validation", "check"]
    assert any(e.id == "custom.stage" and e.message == "hello from python" for e in sink.events)
    assert {s.name for s in sink.spans} >= {"validation", "plan", "execute", "mine"}
    ex = ctx.executor()
    assert ex.output("y").numpy().tolist() == [[0.0] * 16]
    assert json.loads(sink.export_json())[0]["level"] in ("INFO", "DEBUG", "WARN", "ERROR")
    assert "traceEvents" in sink.export_chrome()


def test_stage_exception_becomes_status_with_cause(small_json):
    p = aphelion.Pipeline()

    def bad(c, g):
        raise RuntimeError("boom in python")

    p.add_stage("bad", bad)
    with pytest.raises(aphelion.BackendError, match="boom in python") as info:
        p.run(aphelion.BuildContext("cpu"), aphelion.Graph.load(small_json))
    assert "(stage: bad)" in info.value.message
    assert isinstance(info.value.__cause__, RuntimeError)

    p2 = aphelion.Pipeline()

    def typed(c, g):
        raise aphelion.ValidationError("validation error: nope")

    p2.add_pre_hook(typed)
    with pytest.raises(aphelion.ValidationError, match="nope"):
        p2.run(aphelion.BuildContext("cpu"), aphelion.Graph.load(small_json))

    p3 = aphelion.Pipeline()
    kept = []
    p3.add_stage("keep", lambda c, g: kept.append(g))
    p3.run(aphelion.BuildContext("cpu"), aphelion.Graph.load(small_json))
    with pytest.raises(ValueError, match="closed"):
        kept[0].node_count  # borrowed for the call only


def test_trace_sinks_filter_fanout_callback():
    mem = aphelion.TraceSink()
    got = []
    spans = []
    cb = aphelion.TraceSink.callback(got.append, spans.append)
    fan = aphelion.TraceSink.fanout([aphelion.TraceSink.filter(mem, "warn"), cb])
    fan.record("a", "low", level="info")
    fan.record("b", "high", level="error", span_id="s1")
    fan.record_span("work", "stage", 1000, 2000, device="cpu", args={"k": 1})
    assert [e.id for e in mem.events] == ["b"] and mem.events[0].span_id == "s1"
    assert [e.id for e in got] == ["a", "b"] and got[1].level == aphelion.TraceLevel.ERROR
    assert spans[0].name == "work" and spans[0].args == {"k": 1}
    assert mem.spans[0].duration_ns == 2000
    mem.clear()
    assert mem.events == []


def test_custom_operation_in_python():
    calls = []

    def infer(params, inputs):
        (dtype, shape), = inputs
        return dtype, shape

    def cpu(params, inputs, out):
        calls.append(params)
        out.numpy()[...] = inputs[0].numpy() * params["factor"]

    aphelion.register_op("py_scale", infer, cpu)
    try:
        g = aphelion.Graph()
        x = g.add_node("x", "input", {"shape": [2, 3]})
        s = g.add_node("s", "py_scale", {"factor": 2.5}, inputs=(x,))
        g.add_node("y", "output", inputs=(s,))
        ex = aphelion.Executor(g)
        x_ = np.arange(6, dtype=np.float32).reshape(2, 3)
        np.testing.assert_array_equal(ex.run(x=x_)["y"].numpy(), x_ * 2.5)
        assert calls == [{"factor": 2.5}]

        def failing(params, inputs, out):
            raise KeyError("missing thing")

        aphelion.register_op("py_fail", infer, failing)
        g2 = aphelion.Graph()
        x = g2.add_node("x", "input", {"shape": [2]})
        f = g2.add_node("f", "py_fail", inputs=(x,))
        g2.add_node("y", "output", inputs=(f,))
        with pytest.raises(aphelion.BackendError, match="missing thing") as info:
            aphelion.Executor(g2).run(x=np.zeros(2, np.float32))
        assert isinstance(info.value.__cause__, KeyError)
        aphelion.unregister_op("py_fail")
    finally:
        aphelion.unregister_op("py_scale")
    with pytest.raises(aphelion.NotFoundError):
        aphelion.unregister_op("py_scale")


def test_log_callback_and_logging_module(caplog):
    got = []
    aphelion.set_log_level("info")
    try:
        aphelion.set_log_callback(lambda lvl, target, msg: got.append((lvl, target, msg)))
        aphelion.log_write("warn", "from python", target="app::x")
        assert got == [(aphelion.LogLevel.WARN, "app::x", "from python")]
        aphelion.log_to_python()
        with caplog.at_level(logging.INFO, logger="aphelion"):
            aphelion.log_write("info", "into logging", target="aphelion::device")
            aphelion.log_training_step(100, 1000, 0.123456789, 1e-4)
        recs = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
        assert ("aphelion.device", logging.INFO, "into logging") in recs
        # a callback that raises does not break the library: sys.unraisablehook reports it
        hooked = []
        import sys

        old_hook, sys.unraisablehook = sys.unraisablehook, hooked.append
        try:
            aphelion.set_log_callback(lambda *a: 1 / 0)
            aphelion.log_write("error", "x")
        finally:
            sys.unraisablehook = old_hook
        assert len(hooked) == 1 and isinstance(hooked[0].exc_value, ZeroDivisionError)
    finally:
        aphelion.set_log_callback(None)
        aphelion.set_log_level("warn")
    assert aphelion.get_log_level() == aphelion.LogLevel.WARN


def test_op_schemas_are_data():
    names = [s.name for s in aphelion.op_schemas()]
    assert "matmul" in names and "attention" in names
    ln = aphelion.op_schema("layer_norm")
    assert ln.operand_names[:2] == ("x", "weight") and ln.params[0].name == "eps" and ln.params[0].default == 1e-5
    with pytest.raises(aphelion.NotFoundError):
        aphelion.op_schema("frobnicate")
