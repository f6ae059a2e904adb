#!/usr/bin/env python3
"""`aphelion run` on a graph with symbolic dimensions: --dim sizes the inputs drawn at random,
inputs from the --weights file fix sizes too (disagreeing with a --dim is the library's error),
--save writes the outputs (every one by name to .safetensors, the only one to .npy), checked
against numpy. Usage errors exit 2, library errors 1, each with its message.

    python3 tests/test_cli_run_symbolic.py path/to/aphelion

Skipped (77) without numpy.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipped")
    sys.exit(77)

CLI = sys.argv[1]
ENV = dict(os.environ, APHELION_FORCE_CPU="1", APHELION_LOG="")


def graph(path, with_positions):
    nodes, edges = [], []

    def node(name, op, params, operands=()):
        i = len(nodes) + 1
        nodes.append({"id": i, "name": name, "config": {"name": op, "version": "1.0.0", "params": params},
                      "metadata": {}})
        for o in operands:
            edges.append([next(n["id"] for n in nodes if n["name"] == o), i])

    node("x", "input", {"shape": ["batch", 16], "dtype": "f32"})
    node("w", "weight", {"shape": [8, 16], "dtype": "f32"})
    node("h", "linear", {}, ["x", "w"])
    node("y", "output", {}, ["h"])
    if with_positions:
        node("ids", "input", {"shape": ["batch", "seq"], "dtype": "i64"})
        node("pos", "positions", {"dim": -1}, ["ids"])
        node("p", "output", {}, ["pos"])
    with open(path, "w") as f:
        json.dump({"nodes": nodes, "edges": edges}, f, indent=2)


def write_safetensors(path, tensors):
    header, data = {}, b""
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": {"float32": "F32", "int64": "I64"}[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dt = {"F32": np.float32, "I64": np.int64}[t["dtype"]]
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + b:8 + n + e], dtype=dt).reshape(t["shape"])
    return out


def run(*args):
    p = subprocess.run([CLI, "run", *args], capture_output=True, text=True, env=ENV)
    return p.returncode, p.stdout, p.stderr


def expect(rc_want, args, text, where="stderr"):
    rc, out, err = run(*args)
    got = err if where == "stderr" else out
    if rc != rc_want or text not in got:
        sys.exit(f"aphelion run {' '.join(args)}: exit {rc} (want {rc_want}), {where} lacks {text!r}\n"
                 f"stdout:\n{out}\nstderr:\n{err}")
    return out


def main():
    rng = np.random.default_rng(1234)
    with tempfile.TemporaryDirectory() as tmp:
        two = os.path.join(tmp, "two.json")
        one = os.path.join(tmp, "one.json")
        graph(two, True)
        graph(one, False)
        x = rng.standard_normal((5, 16)).astype(np.float32)
        w = rng.standard_normal((8, 16)).astype(np.float32)
        weights = os.path.join(tmp, "weights.safetensors")
        write_safetensors(weights, {"w": w, "x": x})
        want_y = x.astype(np.float64) @ w.T.astype(np.float64)

        # Every output to safetensors: x from the file (batch 5), ids drawn at [batch, seq].
        st = os.path.join(tmp, "out.safetensors")
        out = expect(0, [two, "--device", "cpu", "--weights", weights, "--dim", "batch=5", "--dim", "seq=7",
                         "--save", st], "saved   " + st + " (2 outputs)", "stdout")
        if "input ids: zero values from seed 0, [5, 7]" not in out:
            sys.exit("the random input's shape is not reported:\n" + out)
        saved = read_safetensors(st)
        assert sorted(saved) == ["p", "y"], sorted(saved)
        assert saved["y"].shape == (5, 8), saved["y"].shape
        np.testing.assert_allclose(saved["y"], want_y, rtol=1e-5, atol=1e-5)
        assert saved["p"].dtype == np.int64 and saved["p"].tolist() == list(range(7)), saved["p"]

        # The only output to .npy; no --dim needed when the file gives every input.
        npy = os.path.join(tmp, "y.npy")
        expect(0, [one, "--device", "cpu", "--weights", weights, "--save", npy], "(1 output)", "stdout")
        y = np.load(npy)
        assert y.dtype == np.float32 and y.shape == (5, 8), (y.dtype, y.shape)
        np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)

        # Errors.
        expect(1, [two, "--device", "cpu", "--weights", weights, "--dim", "batch=4", "--dim", "seq=7"],
               "the inputs disagree on batch")
        expect(1, [two, "--device", "cpu", "--weights", weights, "--dim", "batch=5"],
               "input 'ids' has the symbolic dimension 'seq': give its size with --dim seq=N")
        expect(1, [one, "--device", "cpu", "--weights", weights, "--dim", "heads=2"],
               "--dim heads: the graph has no symbolic dimension 'heads' (its symbols: batch)")
        expect(2, [two, "--device", "cpu", "--weights", weights, "--save", npy],
               "the graph has 2 outputs; a .npy file holds one")
        expect(2, [one, "--save", os.path.join(tmp, "y.txt")], "names neither a .safetensors nor a .npy file")
        expect(2, [one, "--dim", "batch"], "--dim: 'batch' is not NAME=SIZE")
        expect(2, [one, "--dim", "batch=-1"], "--dim: 'batch=-1' is not NAME=SIZE")
        expect(2, [one, "--dim", "batch=2", "--dim", "batch=3"], "--dim: 'batch=3' gives a size twice")
    print("aphelion run with symbolic dimensions and --save: ok")


main()
