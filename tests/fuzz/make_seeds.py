#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/<target>/), small and valid inputs of each
format, from which libFuzzer mutates. The files are committed; rerun this after changing a
target's input format:

    python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def node(i, name, op, params=None):
    return {"id": i, "name": name, "config": {"name": op, "version": "1.0.0", "params": params or {}}, "metadata": {}}


def graph(nodes, edges):
    return json.dumps({"nodes": nodes, "edges": edges}, separators=(",", ":"))


def graphs():
    mlp = graph([
        node(1, "x", "input", {"dtype": "f32", "shape": [2, 4]}),
        node(2, "w1", "weight", {"dtype": "f32", "shape": [3, 4]}),
        node(3, "b1", "weight", {"dtype": "f32", "shape": [3]}),
        node(4, "fc1", "linear"),
        node(5, "act", "gelu"),
        node(6, "w2", "weight", {"dtype": "f32", "shape": [2, 3]}),
        node(7, "fc2", "linear"),
        node(8, "half", "constant", {"dtype": "f32", "shape": [2], "value": 0.5}),
        node(9, "scaled", "mul"),
        node(10, "t", "transpose", {"dim0": 0, "dim1": 1}),
        node(11, "tt", "transpose", {"dim0": 0, "dim1": 1}),
        node(12, "probs", "softmax"),
        node(13, "y", "output"),
    ], [[1, 4], [2, 4], [3, 4], [4, 5], [5, 7], [6, 7], [7, 9], [8, 9], [9, 10], [10, 11], [11, 12], [12, 13]])
    write("graph_json", "mlp.json", mlp)
    attn = graph([
        node(1, "q", "input", {"dtype": "f32", "shape": [1, 4, 2, 8]}),
        node(2, "k", "input", {"dtype": "f32", "shape": [1, 4, 1, 8]}),
        node(3, "v", "input", {"dtype": "f32", "shape": [1, 4, 1, 8]}),
        node(4, "pos", "constant", {"dtype": "i32", "shape": [4], "value": [0, 1, 2, 3]}),
        node(5, "qr", "rope", {"theta": 10000.0, "layout": "half"}),
        node(6, "a", "attention", {"causal": True}),
        node(7, "r", "reshape", {"shape": [1, 4, 16]}),
        node(8, "n", "rms_norm", {"eps": 1e-6}),
        node(9, "g", "weight", {"dtype": "f32", "shape": [16]}),
        node(10, "s", "slice", {"dim": -1, "start": 0, "stop": 8, "step": 2}),
        node(11, "m", "sum", {"dim": -1, "keepdim": True}),
        node(12, "out", "output"),
    ], [[1, 5], [4, 5], [5, 6], [2, 6], [3, 6], [6, 7], [7, 8], [9, 8], [8, 10], [10, 11], [11, 12]])
    write("graph_json", "attention.json", attn)
    quant = graph([
        node(1, "x", "input", {"dtype": "f32", "shape": [3, 8]}),
        node(2, "q", "weight", {"dtype": "u8", "shape": [4, 2]}),
        node(3, "s", "weight", {"dtype": "f32", "shape": [1]}),
        node(4, "tm", "ternary_matmul"),
        node(5, "ids", "constant", {"dtype": "i64", "shape": [2], "value": [1, 0]}),
        node(6, "tab", "weight", {"dtype": "f32", "shape": [3, 4]}),
        node(7, "e", "embedding"),
        node(8, "c", "cast", {"dtype": "bf16"}),
        node(9, "o1", "output"),
        node(10, "o2", "output"),
    ], [[1, 4], [2, 4], [3, 4], [6, 7], [5, 7], [7, 8], [4, 9], [8, 10]])
    write("graph_json", "quant_embedding.json", quant)
    cycle = graph([node(1, "a", "relu"), node(2, "b", "relu"), node(3, "c", "output")], [[1, 2], [2, 1], [2, 3]])
    write("graph_json", "cycle.json", cycle)
    dangling = graph([node(1, "a", "input", {"shape": [2]}), node(2, "b", "output")], [[1, 2], [2, 9]])
    write("graph_json", "dangling.json", dangling)
    # Symbolic dimensions (header section 20): token ids [batch, seq], their embeddings plus
    # position embeddings (positions of seq), a reshape naming a symbol, a reduction.
    symbolic = graph([
        node(1, "ids", "input", {"dtype": "i64", "shape": ["batch", "seq"]}),
        node(2, "table", "weight", {"dtype": "f32", "shape": [16, 8]}),
        node(3, "emb", "embedding"),
        node(4, "pos", "positions", {"dim": -1}),
        node(5, "ptable", "weight", {"dtype": "f32", "shape": [16, 8]}),
        node(6, "pemb", "embedding"),
        node(7, "sum", "add"),
        node(8, "flat", "reshape", {"shape": ["batch", -1]}),
        node(9, "pooled", "mean", {"dim": -1}),
        node(10, "y", "output"),
    ], [[2, 3], [1, 3], [1, 4], [5, 6], [4, 6], [3, 7], [6, 7], [7, 8], [8, 9], [9, 10]])
    write("graph_json", "symbolic.json", symbolic)
    # Two inputs sharing a symbol, attention over a symbolic sequence with a causal mask.
    sym_attn = graph([
        node(1, "q", "input", {"dtype": "f32", "shape": ["batch", 2, "seq", 8]}),
        node(2, "kv", "input", {"dtype": "f32", "shape": ["batch", 1, "seq", 8]}),
        node(3, "a", "attention", {"causal": True}),
        node(4, "r", "reshape", {"shape": ["batch", "seq", 16]}),
        node(5, "s", "slice", {"dim": 1, "start": 0, "stop": 2}),
        node(6, "out", "output"),
    ], [[1, 3], [2, 3], [2, 3], [3, 4], [4, 5], [5, 6]])
    write("graph_json", "symbolic_attention.json", sym_attn)
    with open(os.path.join(ROOT, "tests", "data", "graphs", "example_pretty.json"), "rb") as f:
        write("graph_json", "example_pretty.json", f.read())


DT = {"F32": ("<f", 4), "F16": ("<e", 2), "I64": ("<q", 8), "I32": ("<i", 4), "U8": ("<B", 1), "BOOL": ("<B", 1),
      "BF16": (None, 2), "F64": ("<d", 8), "I8": ("<b", 1), "F8_E4M3": (None, 1)}


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, raw bytes)] in data order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    off = 0
    data = b""
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    write("safetensors", "one_f32.safetensors", safetensors([("w", "F32", [2, 3], f32)]))
    write("safetensors", "dtypes.safetensors", safetensors([
        ("a", "I64", [2], struct.pack("<2q", -1, 7)),
        ("b", "F64", [1], struct.pack("<d", 0.25)),
        ("c", "I32", [3], struct.pack("<3i", 1, 2, 3)),
        ("d", "BF16", [2], b"\x80\x3f\x00\x40"),
        ("e", "F16", [2], struct.pack("<2e", 1.5, -2)),
        ("f", "U8", [3], b"\x01\x02\x03"),
        ("g", "BOOL", [2], b"\x00\x01"),
        ("h", "F8_E4M3", [1], b"\x38"),
    ], {"format": "pt", "note": "seed"}))
    write("safetensors", "empty_tensor.safetensors", safetensors([("z", "F32", [0, 3], b""), ("s", "F32", [], struct.pack("<f", 3.5))]))
    write("safetensors", "no_tensors.safetensors", safetensors([], {"k": "v"}))


def dlpack(mode, major=1, minor=1, flags=0, dev=0, dev_id=0, ndim=2, code=2, bits=32, lanes=1, byte_offset=0,
           data_off=0, shape=(2, 3), strides=(3, 1)):
    def small(v):
        # fz_small: byte < 240 -> (b % 16) - 4; else the next 8 bytes.
        if -4 <= v <= 11:
            return bytes([v + 4])
        return bytes([0xF0]) + struct.pack("<q", v)
    out = bytes([mode]) + struct.pack("<IIQ", major, minor, flags) + bytes([dev, dev_id & 0xFF])
    out += small(ndim) + bytes([code, bits]) + struct.pack("<H", lanes) + small(byte_offset) + bytes([data_off])
    for s in shape:
        out += small(s)
    for s in strides:
        out += small(s)
    return out


def dlpack_seeds():
    write("dlpack", "f32_2x3.bin", dlpack(0))
    write("dlpack", "f32_transposed.bin", dlpack(0, shape=(3, 2), strides=(1, 3)))
    write("dlpack", "unversioned_i64.bin", dlpack(1, code=0, bits=64, shape=(4,), strides=(1,), ndim=1))
    write("dlpack", "null_strides_offset.bin", dlpack(4, byte_offset=8, shape=(2, 2), strides=()))
    write("dlpack", "read_only_bf16.bin", dlpack(0, flags=1, code=4, bits=16, shape=(2, 2, 2), strides=(4, 2, 1), ndim=3))
    write("dlpack", "broadcast_bool.bin", dlpack(0, code=6, bits=8, shape=(3, 4), strides=(0, 1)))
    write("dlpack", "zero_dim.bin", dlpack(0, ndim=0, shape=(), strides=()))
    write("dlpack", "cuda_host_u8.bin", dlpack(0, dev=2, code=1, bits=8, shape=(5,), strides=(2,), ndim=1))
    write("dlpack", "cuda.bin", dlpack(0, dev=1))
    write("dlpack", "empty.bin", dlpack(0, shape=(0, 7), strides=(7, 1)))


TOKENIZER = (
    '{"version":"1.0","truncation":{"direction":"Right","max_length":8,"strategy":"LongestFirst","stride":0},'
    '"padding":{"strategy":{"Fixed":8},"direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0,'
    '"pad_token":"[PAD]"},"added_tokens":['
    + ",".join('{"id":%d,"content":"%s","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,'
               '"special":true}' % (i, t) for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    + '],"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,'
    '"lowercase":true},"pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":{"type":"TemplateProcessing",'
    '"single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},'
    '{"SpecialToken":{"id":"[SEP]","type_id":0}}],"pair":[],"special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],'
    '"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}},"decoder":null,'
    '"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":10,'
    '"vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"hello":4,"world":5,"un":6,"##aff":7,"##able":8,",":9,'
    '"!":10,"cafe":11,"\\u4e2d":12,"i":13,"##\\u0307":14,"a":15,"##a":16}}}'
)


def tokenizer_seeds():
    write("tokenizer", "bert.json", b"\x00" + TOKENIZER.encode())
    nulls = TOKENIZER.replace('"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,'
                              '"strip_accents":null,"lowercase":true}', '"normalizer":null')
    nulls = nulls.replace('{"strategy":{"Fixed":8},"direction":"Right"', '{"strategy":"BatchLongest","direction":"Left"')
    write("tokenizer", "left_padding.json", b"\x00" + nulls.encode())
    write("tokenizer", "text_ascii.txt", b"\x01Hello, world! unaffable caf\xc3\xa9")
    write("tokenizer", "text_two.txt", b"\x03hello world\x00\t\xe4\xb8\xad\xe6\x96\x87 I\xcc\x87 a a a aaaa")
    write("tokenizer", "text_fixed.txt", b"\x19one two three four five six seven eight nine")
    write("tokenizer", "text_invalid_utf8.txt", b"\x05ok \xff\xfe \xed\xa0\x80 \xc0\xaf")


def seq(*steps):
    return bytes(b for s in steps for b in s)


def sequence_seeds():
    # op 0: create (dst, kind, dtype+1, ndim, dims...); op 1: view (src, dst, kind, n, a..., x, y, z)
    def create(dst, kind, dtype, dims):
        out = [0, dst, kind, dtype + 1, len(dims) + 4] + [d + 4 for d in dims]
        return out + ([1] if kind == 2 else [0] if kind == 3 else [])
    view = lambda src, dst, kind, a, x, y, z: [1, src, dst, kind, len(a) + 4] + [v + 4 for v in a] + [x + 4, y + 4, z + 4]
    write("sequence", "tensors_views.bin", seq(
        create(0, 2, 0, [2, 3]), create(1, 1, 0, [2, 3]), view(0, 2, 2, [], 0, 1, 0), [2, 1, 0, 0, 3],
        [3, 0, 0, 1, 1, 1, 4], [4, 1, 0, 1], view(0, 3, 6, [4, 2, 3], 0, 0, 0), [11, 3, 0], [11, 2, 0]))
    write("sequence", "dlpack_raw_streams.bin", seq(
        create(0, 0, 3, [4]), [5, 0, 1, 0], [5, 1, 2, 1], [5, 0, 3, 2], [6, 0, 0, 8, 0], [6, 0, 1], [6, 0, 1],
        [6, 1, 2, 5], [7, 0, 0, 0], [7, 0, 0, 3], [7, 0, 0, 4], [7, 0, 0, 6], [0, 4, 3, 1, 6, 5, 5]))
    write("sequence", "executor.bin", seq(
        [9, 0, 200], create(0, 2, 0, [2, 4]), create(1, 2, 0, [3, 4]), create(2, 2, 0, [3]), create(3, 2, 0, [2, 3]),
        [8, 0, 0, 0, 0], [8, 0, 0, 0, 1], [8, 1, 1, 0, 2], [8, 2, 2, 0, 2], [8, 3, 3, 0, 2], [8, 0, 0, 0, 3],
        [8, 4, 0, 5, 4], [8, 0, 0, 0, 6], [11, 5, 0], [9, 1]))
    # The symbolic first layer (dst 1: rf_sym_graph_json, default max_plans; dst 3: one plan
    # kept): x bound at batch 2, run, at batch 3 (t1 is [3, 4]), run, at batch 2 again, run.
    for name, dst in (("executor_symbolic.bin", 1), ("executor_symbolic_one_plan.bin", 3)):
        write("sequence", name, seq(
            create(0, 2, 0, [2, 4]), create(1, 2, 0, [3, 4]), create(2, 2, 0, [3]),
            [8, 0, 0, dst, 0], [8, 0, 0, 0, 1], [8, 1, 1, 0, 2], [8, 2, 2, 0, 2], [8, 0, 0, 0, 3], [8, 4, 0, 5, 4],
            [8, 0, 1, 0, 1], [8, 0, 0, 0, 3], [8, 4, 0, 6, 4], [8, 0, 0, 0, 1], [8, 0, 0, 0, 3],
            [8, 0, 0, 0, 6], [11, 5, 0], [11, 6, 0]))
    write("sequence", "budget_oom.bin", seq(
        [9, 0, 1], create(0, 0, 0, [11, 11]), create(1, 0, 0, [8, 8, 8]), [9, 3], [9, 2], [9, 1], create(1, 0, 0, [8, 8])))


if __name__ == "__main__":
    graphs()
    safetensors_seeds()
    dlpack_seeds()
    tokenizer_seeds()
    sequence_seeds()
