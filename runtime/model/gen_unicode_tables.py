#!/usr/bin/env python3
"""Generates runtime/model/unicode_tables.inc: the Unicode data the BERT tokenizer needs.

    python3 runtime/model/gen_unicode_tables.py > runtime/model/unicode_tables.inc

Per code point, the tokenizer needs (see runtime/model/unicode.hpp):
  - DROP: removed by the BERT normaliser's clean_text (general categories Cc, Cf, Co except
    tab, newline and carriage return; also U+0000 and U+FFFD);
  - SPACE: White_Space (Rust's char::is_whitespace) or tab/newline/carriage return: mapped to a
    space by clean_text, and where the BERT pre-tokeniser splits;
  - PUNCT: isolated by the BERT pre-tokeniser (ASCII punctuation or a P* general category);
  - MN: general category Mn, dropped by strip_accents after NFD;
  - the canonical combining class and the full canonical decomposition (NFD);
  - the lowercase mapping (Rust's char::to_lowercase: possibly several code points, U+0130
    becomes "i" + U+0307).

The data comes from Python's standard unicodedata module (its Unicode version is printed in the
output). Hugging Face's tokenizers (Rust) does not use one Unicode version: the categories come
from the unicode_categories crate (0.1.1, tables of about Unicode 8.0), NFD from
unicode-normalization-alignments (about Unicode 9.0) and whitespace and lowercase from the Rust
standard library the wheel was built with (Unicode 15/16). To produce exactly its ids, this script
asks an installed `tokenizers` (pip install tokenizers) how it treats every code point, uses its
answers, and lists in the output every code point where they differ from unicodedata. With
--unicodedata-only it writes the plain unicodedata tables instead (not id-exact with HF).

Only the standard library and, for the comparison, `tokenizers` are used.
"""
import argparse
import sys
import unicodedata as ud

ASCII_PUNCT = set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')
DROP, SPACE, PUNCT, MN = 1, 2, 4, 8
FLAG_NAMES = {DROP: "DROP", SPACE: "SPACE", PUNCT: "PUNCT", MN: "MN"}
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def from_unicodedata():
    """Every property as unicodedata defines it."""
    flags, ccc, decomp, lower = {}, {}, {}, {}
    for c in CODE_POINTS:
        ch = chr(c)
        cat = ud.category(ch)
        f = 0
        # White_Space: str.isspace() counts U+001C..U+001F (bidi class B/S) too; the Unicode
        # White_Space property (and Rust) does not.
        if c in (9, 10, 13) or (ch.isspace() and not 0x1C <= c <= 0x1F):
            f |= SPACE
        if c == 0 or c == 0xFFFD or (cat in ("Cc", "Cf", "Co") and c not in (9, 10, 13)):
            f |= DROP
        if ch in ASCII_PUNCT or cat.startswith("P"):
            f |= PUNCT
        if cat == "Mn" and ud.normalize("NFD", ch) == ch:  # what NFD leaves behind
            f |= MN
        if f:
            flags[c] = f
        if ud.combining(ch):
            ccc[c] = ud.combining(ch)
        d = ud.normalize("NFD", ch)
        if d != ch and not 0xAC00 <= c <= 0xD7A3:  # Hangul syllables decompose by formula
            decomp[c] = [ord(x) for x in d]
        lo = ch.lower()
        if lo != ch:
            lower[c] = [ord(x) for x in lo]
    return flags, ccc, decomp, lower


def from_tokenizers(base_ccc):
    """Every property as the installed Hugging Face tokenizers treats it."""
    from tokenizers import normalizers, pre_tokenizers

    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                       strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                       strip_accents=True, lowercase=False)
    nfd = normalizers.NFD()
    lowercase = normalizers.Lowercase()
    pretok = pre_tokenizers.BertPreTokenizer()
    flags, ccc, decomp, lower = {}, {}, {}, {}
    for c in CODE_POINTS:
        ch = chr(c)
        f = 0
        cleaned = clean.normalize_str(ch)
        if cleaned == "":
            f |= DROP
        pieces = len(pretok.pre_tokenize_str("a" + ch + "a"))
        if pieces == 2:
            f |= SPACE
        elif pieces == 3:
            f |= PUNCT
        if cleaned == " " and c != 0x20 and not f & SPACE:
            raise SystemExit(f"U+{c:04X}: clean_text makes it a space, the pre-tokeniser does not split on it")
        d = nfd.normalize_str(ch)
        if d != ch:
            if not 0xAC00 <= c <= 0xD7A3:
                decomp[c] = [ord(x) for x in d]
        elif strip.normalize_str(ch) == "":
            f |= MN
        if f:
            flags[c] = f
        lo = lowercase.normalize_str(ch)
        if lo != ch:
            lower[c] = [ord(x) for x in lo]
    # Combining classes: a class never changes once assigned, so the crate's class of a code
    # point is unicodedata's, or 0 when its (older) tables lack it. Tell them apart by whether
    # NFD reorders the code point against marks of class 1, 220, 230 and 240.
    marks = ["\u0334", "\u0316", "\u0301", "\u0345"]
    for c, k in base_ccc.items():
        known = True
        for m in marks:
            for s in ("a" + chr(c) + m, "a" + m + chr(c)):
                if nfd.normalize_str(s) != ud.normalize("NFD", s):
                    known = False
        if known:
            ccc[c] = k
    return flags, ccc, decomp, lower


def canonical_nfd(text, ccc, decomp):
    """NFD of a list of code points with the given tables (for the self-check)."""
    out = []
    for c in text:
        if 0xAC00 <= c <= 0xD7A3:
            s = c - 0xAC00
            out += [0x1100 + s // 588, 0x1161 + (s % 588) // 28] + ([0x11A7 + s % 28] if s % 28 else [])
        else:
            out += decomp.get(c, [c])
    i = 0
    while i < len(out):  # stable sort of each run of non-starters by class
        if ccc.get(out[i], 0) == 0:
            i += 1
            continue
        j = i
        while j < len(out) and ccc.get(out[j], 0) != 0:
            j += 1
        out[i:j] = sorted(out[i:j], key=lambda x: ccc[x])
        i = j
    return out


def self_check(ccc, decomp):
    """Random strings of marks and letters: the tables' NFD must equal the tokenizers NFD."""
    import random
    from tokenizers import normalizers

    nfd = normalizers.NFD()
    rng = random.Random(1234)
    pool = list(ccc) + list(decomp) + [0x61, 0x41, 0x3B1, 0xAC01, 0x1100, 0x1161]
    for _ in range(20000):
        s = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
        got = canonical_nfd(s, ccc, decomp)
        want = [ord(x) for x in nfd.normalize_str("".join(map(chr, s)))]
        if got != want:
            raise SystemExit(f"self-check failed for {[hex(x) for x in s]}: {got} != {want}")


def ranges(cps):
    """Sorted code points -> inclusive (first, last) ranges."""
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def fmt_ranges(cps):
    return ", ".join(f"{a:04X}" if a == b else f"{a:04X}..{b:04X}" for a, b in ranges(cps))


def wrap(items, indent="", width=96):
    lines, line = [], indent
    for it in items:
        if len(line) + len(it) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += it + " "
    if line.strip():
        lines.append(line.rstrip())
    return lines


def differences(base, final):
    """Comment lines describing where final (tokenizers) differs from base (unicodedata)."""
    bflags, bccc, bdecomp, blower = base
    flags, ccc, decomp, lower = final
    out = []
    for bit, name in FLAG_NAMES.items():
        added = [c for c in CODE_POINTS if flags.get(c, 0) & bit and not bflags.get(c, 0) & bit]
        removed = [c for c in CODE_POINTS if bflags.get(c, 0) & bit and not flags.get(c, 0) & bit]
        if added:
            out.append(f"{name} also for ({len(added)}): {fmt_ranges(added)}")
        if removed:
            out.append(f"{name} not for ({len(removed)}): {fmt_ranges(removed)}")
    d = [c for c in set(bccc) | set(ccc) if bccc.get(c, 0) != ccc.get(c, 0)]
    if d:
        out.append(f"combining class 0 (unknown to the crate) for ({len(d)}): {fmt_ranges(d)}")
    d = [c for c in set(bdecomp) | set(decomp) if bdecomp.get(c) != decomp.get(c)]
    if d:
        out.append(f"decomposition differs for ({len(d)}): {fmt_ranges(d)}")
    d = [c for c in set(blower) | set(lower) if blower.get(c) != lower.get(c)]
    if d:
        out.append(f"lowercase differs for ({len(d)}): {fmt_ranges(d)}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--unicodedata-only", action="store_true",
                    help="plain unicodedata tables, without asking tokenizers")
    args = ap.parse_args()

    base = from_unicodedata()
    if args.unicodedata_only:
        final, source = base, "unicodedata only (not compared with Hugging Face tokenizers)"
        diff_lines = []
    else:
        try:
            import tokenizers
        except ImportError:
            raise SystemExit("needs Hugging Face tokenizers (pip install tokenizers), "
                             "or --unicodedata-only")
        final = from_tokenizers(base[1])
        self_check(final[1], final[2])
        source = f"Hugging Face tokenizers {tokenizers.__version__}"
        diff_lines = differences(base, final)
    flags, ccc, decomp, lower = final

    # Ranges of equal (flags, combining class), zeros left out.
    props = {}
    for c in CODE_POINTS:
        v = (flags.get(c, 0), ccc.get(c, 0))
        if v != (0, 0):
            props[c] = v
    prop_ranges = []
    for c in sorted(props):
        if prop_ranges and prop_ranges[-1][1] == c - 1 and prop_ranges[-1][2] == props[c]:
            prop_ranges[-1][1] = c
        else:
            prop_ranges.append([c, c, props[c]])

    w = sys.stdout.write
    w("// Generated by runtime/model/gen_unicode_tables.py; do not edit. Included by unicode.cpp only.\n")
    w(f"// Unicode data: Python {sys.version.split()[0]} unicodedata {ud.unidata_version};\n")
    w(f"// per code point behaviour checked against and taken from: {source}.\n")
    if diff_lines:
        w("// Where the tokenizers crates (unicode_categories, unicode-normalization-alignments, Rust std)\n")
        w(f"// differ from unicodedata {ud.unidata_version} (code points in hex):\n")
        for line in diff_lines:
            for i, l in enumerate(wrap(line.split(" "), "//     ")):
                w(("//   " + l[7:] if i == 0 else l) + "\n")
    w("\n")
    w("// {first, last, flags (1 DROP, 2 SPACE, 4 PUNCT, 8 MN), canonical combining class}\n")
    w(f"static constexpr UnicodeRange kUnicodeRanges[{len(prop_ranges)}] = {{\n")
    for line in wrap([f"{{0x{a:04X}, 0x{b:04X}, {f}, {k}}}," for a, b, (f, k) in prop_ranges], "    "):
        w(line + "\n")
    w("};\n\n")

    def mapping(name, table):
        data, entries = [], []
        for c in sorted(table):
            entries.append(f"{{0x{c:04X}, {len(data)}, {len(table[c])}}},")
            data += table[c]
        w(f"// {name}: {{code point, offset into {name}Data, length}}, sorted\n")
        w(f"static constexpr UnicodeMapping {name}[{len(entries)}] = {{\n")
        for line in wrap(entries, "    "):
            w(line + "\n")
        w("};\n")
        w(f"static constexpr char32_t {name}Data[{len(data)}] = {{\n")
        for line in wrap([f"0x{x:04X}," for x in data], "    "):
            w(line + "\n")
        w("};\n\n")

    mapping("kDecomposition", decomp)
    mapping("kLowercase", lower)


if __name__ == "__main__":
    main()
