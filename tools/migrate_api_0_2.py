#!/usr/bin/env python3
"""Rewrites calls written against the C API 0.1 into the argument order of 0.2 (in place).

0.2 moved the stream to the last parameter before the out pointers, or to the very end (the
operations: aph_op_matmul(a, b, ..., out, stream), aph_quantize(..., out_q, out_scale,
stream)), and aph_tensor_create_on_stream(stream, dtype, shape, ndim, out) became
aph_tensor_create_on_stream(device, dtype, shape, ndim, stream, out). This script finds each
call by name, reads its arguments with a balanced-parenthesis parser (strings, character
literals and comments are skipped; an argument may span lines and hold nested calls) and puts
them in the new order, keeping the layout (each position keeps its whitespace and line breaks).

    python3 tools/migrate_api_0_2.py FILE...        rewrites the files, lists what changed
    python3 tools/migrate_api_0_2.py --check FILE...   only lists the calls it would change

Run it ONCE on code written for 0.1: the new order of the operations cannot be told from the
old by looking at a call (both end in tensors), so a second run would move the arguments again.
Declarations and definitions (a first parameter spelled `aph_stream* name`) are left alone.
create_on_stream's new first argument is written as aph_stream_device(stream); where the caller
has the device at hand, replace it by that variable.

Renamed functions (aph_device_get_ordinal -> aph_device_ordinal) are renamed too. Callback
implementations (aph_log_callback, aph_deleter: user_data first in 0.2) cannot be found by name;
the C compiler finds log callbacks (their parameter types changed), deleters must be found by
hand (both parameters are void*).
"""
import re
import sys

# name -> function(args) returning the new argument list (None: leave the call alone)
def _stream_first_to_last(args):
    if re.fullmatch(r"(const\s+)?aph_stream\s*\*\s*\w+", args[0]):
        return None  # a declaration or definition
    return args[1:] + args[:1]


def _create_on_stream(args):
    if re.fullmatch(r"(const\s+)?aph_stream\s*\*\s*\w+", args[0]) or len(args) != 5:
        return None
    stream, dtype, shape, ndim, out = args
    return [f"aph_stream_device({stream})", dtype, shape, ndim, stream, out]


OPERATIONS = [
    "aph_op_matmul", "aph_op_linear", "aph_op_binary", "aph_op_binary_scalar", "aph_op_unary",
    "aph_op_bias_activation", "aph_op_softmax", "aph_op_log_softmax", "aph_op_layer_norm",
    "aph_op_rms_norm", "aph_op_reduce", "aph_op_argmax", "aph_op_rope", "aph_op_embedding",
    "aph_op_cast", "aph_op_attention", "aph_quantize", "aph_dequantize", "aph_op_ternary_matmul",
    "aph_op_gru_cell",
]
REORDER = {name: _stream_first_to_last for name in OPERATIONS}
REORDER["aph_tensor_create_on_stream"] = _create_on_stream
RENAME = {"aph_device_get_ordinal": "aph_device_ordinal"}


def _skip_literal(text, i):
    """i at a quote or comment start: the index just past it (or i when it is neither)."""
    c = text[i]
    if c in "\"'":
        j = i + 1
        while j < len(text) and text[j] != c:
            j += 2 if text[j] == "\\" else 1
        return j + 1
    if text.startswith("/*", i):
        j = text.find("*/", i + 2)
        return len(text) if j < 0 else j + 2
    if text.startswith("//", i):
        j = text.find("\n", i)
        return len(text) if j < 0 else j
    return i


def parse_args(text, open_paren):
    """The raw argument texts of the call whose '(' is at open_paren, and the index of its ')'."""
    args, depth, start, i = [], 0, open_paren + 1, open_paren + 1
    while i < len(text):
        j = _skip_literal(text, i)
        if j != i:
            i = j
            continue
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append(text[start:i])
                return args, i
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
        i += 1
    raise ValueError(f"unbalanced parentheses after offset {open_paren}")


def _reorder(raw_args, new_core):
    """Puts new_core's texts into the positions of raw_args, keeping each position's spacing."""
    out = []
    n_old = len(raw_args)
    for k, core in enumerate(new_core):
        raw = raw_args[min(k, n_old - 1)]
        lead = raw[: len(raw) - len(raw.lstrip())]
        trail = raw[len(raw.rstrip()):]
        if k >= n_old:  # a position the old call did not have
            lead, trail = " ", ""
        out.append(lead + core + trail)
    return ",".join(out)


def migrate(text):
    changes = []
    for old, new in RENAME.items():
        n = len(re.findall(rf"\b{old}\b", text))
        if n:
            text = re.sub(rf"\b{old}\b", new, text)
            changes.append(f"{old} -> {new} ({n})")
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, REORDER)) + r")\(")
    pos = 0
    while True:
        m = pattern.search(text, pos)
        if not m:
            break
        open_paren = m.end() - 1
        raw, close = parse_args(text, open_paren)
        core = [a.strip() for a in raw]
        new_core = REORDER[m.group(1)](core)
        if new_core is None or new_core == core:
            pos = close + 1
            continue
        line = text.count("\n", 0, m.start()) + 1
        replacement = _reorder(raw, new_core)
        text = text[: open_paren + 1] + replacement + text[close:]
        changes.append(f"line {line}: {m.group(1)}")
        pos = open_paren + 1 + len(replacement) + 1
    return text, changes


def main(argv):
    check = "--check" in argv
    files = [a for a in argv[1:] if a != "--check"]
    if not files:
        print(__doc__)
        return 2
    for path in files:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        new, changes = migrate(text)
        for c in changes:
            print(f"{path}: {c}")
        if not check and new != text:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
