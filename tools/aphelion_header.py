#!/usr/bin/env python3
"""Reads include/aphelion.h into a description of the C API (standard library only).

One parser for everything that must follow the header: the header rules test
(tests/check_header.py), the bindings' generated raw declarations (bindings/gen/) and their
coverage tests, and the bad-input sweep. It understands exactly the constructs the header uses
(the header rules test fails when it meets one it does not), not C in general:

    #define NAME value                      -> macros
    typedef APH_ENUM(name) { A = 0, ... } name;    (also `typedef enum name {...} name;`)
    typedef struct name name;               -> opaque handle types
    typedef struct name { fields } name;    /  struct name { fields };
    typedef ret (*name)(params);            -> callback types
    APH_API ret name(params);               -> functions

Comments inside an enum or a struct belong to the value or field they are written beside (after
it on the same line) or above (on lines of their own): EnumValue.comment, Param.comment (for
the status codes, for instance, the message format of each).

Preprocessor conditionals are evaluated as a C compiler on Linux sees them (__cplusplus and
_WIN32 undefined, __GNUC__ defined). Doc comments are the `/** ... */` blocks: one documents the
declaration right after it, and the declarations that follow it without a blank line (a group).

    python3 tools/aphelion_header.py [--header PATH] --json     prints the description as JSON
    python3 tools/aphelion_header.py --functions                one function name per line
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_HEADER = os.path.join(os.path.dirname(HERE), "include", "aphelion.h")


class HeaderError(Exception):
    """A construct the parser does not understand (the header rules test reports it)."""


@dataclass
class Param:
    type: str            # the C type as written, normalised spaces ("const int64_t*")
    name: str            # "" when unnamed
    array: Optional[str] = None      # "65" for `char out_hex[65]`
    callback: Optional[dict] = None  # for function-pointer parameters: {"ret", "params"}
    comment: Optional[str] = None    # struct fields: the comment written beside or above it


@dataclass
class Function:
    name: str
    ret: str
    params: List[Param]
    doc: Optional[str]
    line: int
    section: str


@dataclass
class EnumValue:
    name: str
    value: int
    explicit: bool = True  # written `NAME = value` (not implied by the previous value + 1)
    comment: Optional[str] = None  # the comment written beside or above it


@dataclass
class Enum:
    name: str
    values: List[EnumValue]
    via_aph_enum: bool
    doc: Optional[str]
    line: int
    section: str


@dataclass
class Struct:
    name: str
    fields: List[Param]
    doc: Optional[str]
    line: int
    section: str


@dataclass
class Callback:
    name: str
    ret: str
    params: List[Param]
    doc: Optional[str]
    line: int
    section: str


@dataclass
class Header:
    path: str
    version: List[int]
    macros: Dict[str, str] = field(default_factory=dict)
    opaque: List[str] = field(default_factory=list)
    enums: List[Enum] = field(default_factory=list)
    structs: List[Struct] = field(default_factory=list)
    callbacks: List[Callback] = field(default_factory=list)
    functions: List[Function] = field(default_factory=list)

    def function(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_json(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------
# Lexing: the text as (kind, text, line) chunks: "code", "doc" (/** */), "comment" (/* */),
# "blank" (an empty line), "pp" (a preprocessor line).

def _chunks(text: str):
    i, n, line = 0, len(text), 1
    code_start, code_line = 0, 1

    def flush(end):
        nonlocal code_start
        if end > code_start:
            yield ("code", text[code_start:end], code_line)

    at_line_start = True
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            yield from flush(i)
            j = text.find("*/", i + 2)
            if j < 0:
                raise HeaderError(f"line {line}: unterminated comment")
            body = text[i:j + 2]
            kind = "doc" if body.startswith("/**") and not body.startswith("/***") else "comment"
            yield (kind, body, line)
            line += body.count("\n")
            i = j + 2
            code_start, code_line = i, line
            at_line_start = False
            continue
        if at_line_start:
            # A blank line or a preprocessor line.
            k = i
            while k < n and text[k] in " \t":
                k += 1
            if k < n and text[k] == "\n":
                yield from flush(i)
                yield ("blank", "", line)
                line += 1
                i = k + 1
                code_start, code_line = i, line
                continue
            if k < n and text[k] == "#":
                yield from flush(i)
                e = k
                while True:  # continuation lines
                    e = text.find("\n", e)
                    if e < 0:
                        e = n
                        break
                    if text[e - 1] == "\\":
                        e += 1
                        continue
                    break
                pp = text[k:e]
                yield ("pp", pp, line)
                line += pp.count("\n") + (1 if e < n else 0)
                i = e + 1
                code_start, code_line = i, line
                continue
        if c == "\n":
            line += 1
            at_line_start = True
        elif c not in " \t":
            at_line_start = False
        i += 1
    yield from flush(n)


_DEFINED_ON_LINUX_C = {"__GNUC__": "1", "__STDC__": "1"}


def _eval_condition(expr: str, defined: Dict[str, str]) -> bool:
    expr = expr.strip()
    py = re.sub(r"defined\s*\(\s*(\w+)\s*\)", lambda m: "True" if m.group(1) in defined else "False", expr)
    py = re.sub(r"defined\s+(\w+)", lambda m: "True" if m.group(1) in defined else "False", py)
    py = py.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)

    def ident(m):
        w = m.group(0)
        if w in ("True", "False", "and", "or", "not"):
            return w
        v = defined.get(w, "0")
        return v if re.fullmatch(r"\d+L?", v) else "0"

    py = re.sub(r"\b[A-Za-z_]\w*\b", ident, py)
    py = re.sub(r"(\d+)L\b", r"\1", py)
    try:
        return bool(eval(py, {"__builtins__": {}}, {}))
    except Exception as e:  # pragma: no cover - reported as a header error
        raise HeaderError(f"cannot evaluate #if {expr!r}: {e}")


def _active_chunks(text: str, macros: Dict[str, str]):
    """Chunks outside inactive preprocessor branches; #define values collected into macros."""
    defined = dict(_DEFINED_ON_LINUX_C)
    stack: List[List[bool]] = []  # [this branch active, some branch taken]

    def active():
        return all(s[0] for s in stack)

    for kind, body, line in _chunks(text):
        if kind != "pp":
            if active():
                yield kind, body, line
            continue
        m = re.match(r"#\s*(\w+)\s*(.*)", body, re.S)
        directive, rest = m.group(1), m.group(2).strip()
        if directive in ("ifdef", "ifndef"):
            name = rest.split()[0]
            cond = (name in defined) == (directive == "ifdef")
            stack.append([cond, cond])
        elif directive == "if":
            cond = _eval_condition(rest, defined)
            stack.append([cond, cond])
        elif directive == "elif":
            taken = stack[-1][1]
            cond = (not taken) and _eval_condition(rest, defined)
            stack[-1] = [cond, taken or cond]
        elif directive == "else":
            stack[-1] = [not stack[-1][1], True]
        elif directive == "endif":
            stack.pop()
        elif directive == "define":
            if active():
                dm = re.match(r"(\w+)(\([^)]*\))?\s*(.*)", rest, re.S)
                name, args, value = dm.group(1), dm.group(2), dm.group(3).strip()
                defined[name] = value
                if args is None:
                    macros[name] = value
        elif directive in ("include", "undef", "error", "pragma"):
            pass
        else:
            raise HeaderError(f"line {line}: unsupported preprocessor directive #{directive}")


# ------------------------------------------------------------------------------------------
# Declarations

def _norm(s: str) -> str:
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"\s*\*\s*", "*", s)
    s = re.sub(r"\*(?=[A-Za-z_])", "* ", s)
    s = s.replace("* const", "*const").replace("*const", "* const")
    return s


def _split_top(s: str, sep: str) -> List[str]:
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


_FNPTR = re.compile(r"^(?P<ret>.+?)\(\s*\*\s*(?P<name>\w*)\s*\)\s*\((?P<params>.*)\)$", re.S)


def _parse_param(p: str) -> Param:
    p = p.strip()
    m = _FNPTR.match(p)
    if m:
        return Param(type="fnptr", name=m.group("name"),
                     callback={"ret": _norm(m.group("ret")), "params": [asdict(x) for x in _parse_params(m.group("params"))]})
    arr = None
    am = re.match(r"^(.*?)\[\s*([^\]]*)\s*\]$", p, re.S)
    if am:
        p, arr = am.group(1).strip(), am.group(2)
    m = re.match(r"^(.*?[\s\*])(\w+)$", p, re.S)
    if m and m.group(2) not in ("void", "int", "char", "double", "float") and not m.group(1).strip().endswith(("struct", "enum")):
        return Param(type=_norm(m.group(1)), name=m.group(2), array=arr)
    return Param(type=_norm(p), name="", array=arr)


def _parse_params(s: str) -> List[Param]:
    s = s.strip()
    if s in ("", "void"):
        return []
    return [_parse_param(p) for p in _split_top(s, ",")]


# Comments inside a declaration stand in its text as placeholders "\x01T<n>\x02" (T: "t" for a
# comment that follows code on its line, "l" for one on lines of its own; n: its index in the
# list of comments), so that the items of enums and structs can claim them.
_PLACEHOLDER = re.compile(r"\x01([tl])(\d+)\x02")


def _strip_placeholders(s: str) -> str:
    return _PLACEHOLDER.sub(" ", s)


def _claim_comments(items: List[str], comments: List[str]) -> List[tuple]:
    """(item text without placeholders, its comment) for each non-empty item: a trailing
    comment at the start of an item belongs to the item before it; other comments to the item
    they are in."""
    out = []  # [text, [comments]]
    for raw in items:
        lead, rest = [], raw
        while True:  # placeholders before the item's own text
            m = re.match(r"\s*\x01([tl])(\d+)\x02", rest)
            if not m:
                break
            lead.append((m.group(1), comments[int(m.group(2))]))
            rest = rest[m.end():]
        text = _strip_placeholders(rest).strip()
        own = [comments[int(m.group(2))] for m in _PLACEHOLDER.finditer(rest)]
        for kind, c in lead:
            if kind == "t" and out:
                out[-1][1].append(c)
            else:
                own.insert(0, c)
        if text:
            out.append([text, own])
        elif out:
            out[-1][1].extend(own)
    return [(t, _clean_comment("\n".join(cs)) if cs else None) for t, cs in out]


def _clean_comment(c: str) -> str:
    lines = []
    for part in re.findall(r"/\*+(.*?)\*/", c, re.S):
        for l in part.splitlines():
            l = re.sub(r"^\s*\*? ?", "", l).rstrip()
            lines.append(l)
    return " ".join(l.strip() for l in lines if l.strip())


def _parse_enum_body(body: str, line: int, comments: List[str]) -> List[EnumValue]:
    values, nxt = [], 0
    for item, comment in _claim_comments(_split_top(body, ","), comments):
        m = re.fullmatch(r"(\w+)\s*(?:=\s*(.+))?", item, re.S)
        if not m:
            raise HeaderError(f"line {line}: cannot read enum item {item!r}")
        if m.group(2) is not None:
            v = m.group(2).strip()
            try:
                nxt = int(v, 0)
            except ValueError:
                raise HeaderError(f"line {line}: enum value {item!r} is not an integer literal")
        values.append(EnumValue(m.group(1), nxt, explicit=m.group(2) is not None, comment=comment))
        nxt += 1
    return values


def _parse_fields(body: str, comments: List[str]) -> List[Param]:
    fields = []
    for f, comment in _claim_comments(_split_top(body, ";"), comments):
        p = _parse_param(f)
        p.comment = comment
        fields.append(p)
    return fields


def parse(path: str = DEFAULT_HEADER) -> Header:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    macros: Dict[str, str] = {}
    chunks = list(_active_chunks(text, macros))

    # Rebuild statements: code is concatenated (comments dropped) and split at ';' at depth 0;
    # each statement remembers the doc in effect where it starts and its section.
    statements = []  # (text, line, doc, section)
    comments: List[str] = []           # comments inside declarations (see _PLACEHOLDER)
    doc: Optional[str] = None          # the doc in effect for the next declaration
    group_open = False                 # the previous statement ended without a blank line since
    section = ""
    buf, buf_line, buf_doc, depth = [], 0, None, 0
    for kind, body, line in chunks:
        if kind in ("comment", "doc") and "".join(buf).strip():
            # Inside a declaration: a placeholder, trailing when code precedes it on its line.
            before = "".join(buf)
            tail = before[before.rfind("\n") + 1:]
            buf.append(f"\x01{'t' if tail.strip() else 'l'}{len(comments)}\x02")
            comments.append(body)
            continue
        if kind == "comment":
            m = re.search(r"^\s*\*?\s*(\d+)\.\s+(.+)$", body, re.M)
            if body.startswith("/* ====") and m:
                section = f"{m.group(1)}. {m.group(2).strip()}"
                doc, group_open = None, False
            continue
        if kind == "doc":
            doc, group_open = body, True
            continue
        if kind == "blank":
            if not "".join(buf).strip():
                group_open = False
                doc = None
            continue
        # code
        for ch_i, ch in enumerate(body):
            if not "".join(buf).strip() and not ch.isspace():
                buf_line = line + body[:ch_i].count("\n")
                buf_doc = doc if group_open else None
            buf.append(ch)
            if ch in "{(":
                depth += 1
            elif ch in "})":
                depth -= 1
            elif ch == ";" and depth == 0:
                statements.append(("".join(buf).strip(), buf_line, buf_doc, section))
                buf = []
        # `extern "C" {` and its closing brace (C++ only) are preprocessed away.
    if "".join(buf).strip():
        raise HeaderError(f"line {buf_line}: unterminated declaration {''.join(buf).strip()[:60]!r}")

    vm = [macros.get(f"APH_VERSION_{k}") for k in ("MAJOR", "MINOR", "PATCH")]
    if None in vm:
        raise HeaderError("APH_VERSION_MAJOR/MINOR/PATCH not found")
    h = Header(path=path, version=[int(v) for v in vm], macros=macros)

    for stmt, line, sdoc, sec in statements:
        # Comments (placeholders) count only inside enum and struct bodies.
        with_comments = re.sub(r"\s+", " ", stmt[:-1]).strip()
        s = re.sub(r"\s+", " ", _strip_placeholders(stmt[:-1])).strip()
        if sdoc is not None:
            sdoc = _clean_doc(sdoc)
        m = re.fullmatch(r"typedef APH_ENUM\((\w+)\) \{(.*)\} (\w+)", with_comments, re.S)
        if m:
            h.enums.append(Enum(m.group(1), _parse_enum_body(m.group(2), line, comments), True, sdoc, line, sec))
            continue
        m = re.fullmatch(r"typedef enum (\w+) \{(.*)\} (\w+)", with_comments, re.S)
        if m:
            h.enums.append(Enum(m.group(1), _parse_enum_body(m.group(2), line, comments), False, sdoc, line, sec))
            continue
        m = re.fullmatch(r"typedef struct (\w+) (\w+)", s)
        if m:
            h.opaque.append(m.group(2))
            continue
        m = re.fullmatch(r"(?:typedef )?struct (\w+) \{(.*)\}(?: (\w+))?", with_comments, re.S)
        if m:
            h.structs.append(Struct(m.group(1), _parse_fields(m.group(2), comments), sdoc, line, sec))
            continue
        m = re.fullmatch(r"struct (\w+)", s)
        if m:
            continue  # forward declaration of a foreign struct (DLPack)
        m = re.fullmatch(r"typedef (.+?)\(\s*\*\s*(\w+)\s*\)\s*\((.*)\)", s)
        if m:
            h.callbacks.append(Callback(m.group(2), _norm(m.group(1)), _parse_params(m.group(3)), sdoc, line, sec))
            continue
        m = re.fullmatch(r"APH_API (.+?)\b(\w+)\s*\((.*)\)", s)
        if m:
            h.functions.append(Function(m.group(2), _norm(m.group(1)), _parse_params(m.group(3)), sdoc, line, sec))
            continue
        raise HeaderError(f"line {line}: unrecognised declaration {s[:80]!r}")
    # Opaque typedefs whose struct is defined later in the header are structs, not handles.
    defined = {st.name for st in h.structs}
    h.opaque = [o for o in h.opaque if o not in defined]
    return h


def _clean_doc(doc: str) -> str:
    body = doc[3:-2]
    lines = [re.sub(r"^\s*\*? ?", "", l) for l in body.splitlines()]
    return "\n".join(l.rstrip() for l in lines).strip()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--header", default=DEFAULT_HEADER)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--json", action="store_true", help="print the description as JSON")
    g.add_argument("--functions", action="store_true", help="print the function names")
    a = ap.parse_args(argv)
    try:
        h = parse(a.header)
    except HeaderError as e:
        print(f"aphelion_header: {a.header}: {e}", file=sys.stderr)
        return 1
    if a.json:
        json.dump(h.to_json(), sys.stdout, indent=1)
        print()
    else:
        for f in h.functions:
            print(f.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
