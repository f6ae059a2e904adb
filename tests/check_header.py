#!/usr/bin/env python3
"""The header's own rules (include/aphelion.h opening comment, "Rules of this API"), checked.

Fails, naming each offender, when:
  - the header holds a construct tools/aphelion_header.py cannot read;
  - an enum is declared without APH_ENUM, or gives a value twice;
  - a struct (every struct in the header is passed by the caller) does not start with
    `size_t struct_size`, or holds a fixed-size array;
  - a callback type has a fixed-size array parameter, or a `user_data` that is not its first
    parameter;
  - an exported function has no doc comment;
  - a stream parameter is not in its place: last, or last before the out pointers (functions of
    the stream object itself, aph_stream_*, take it first);
  - a dimension index parameter (dim, dim0, dim1, axis) is not int64_t;
  - `_get_` appears in a function name outside the two cases the rules allow (a get/set pair,
    or aph_<object>_<property> being a type's name);
  - a registration takes a callback and its user_data apart (user_data must follow the callback).

    python3 tests/check_header.py [path/to/aphelion.h]
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import aphelion_header as ah  # noqa: E402

DIM_NAMES = {"dim", "dim0", "dim1", "axis"}


def is_out_pointer(p) -> bool:
    return p.name == "out" or p.name.startswith("out_")


def check(h: ah.Header) -> list:
    problems = []
    types = {e.name for e in h.enums} | {s.name for s in h.structs} | set(h.opaque) | {c.name for c in h.callbacks}
    callbacks = {c.name for c in h.callbacks}

    for e in h.enums:
        if not e.via_aph_enum:
            problems.append(f"enum {e.name} (line {e.line}) is not declared through APH_ENUM")
        seen = {}
        for v in e.values:
            if v.value in seen:
                problems.append(f"enum {e.name}: {v.name} repeats the value {v.value} of {seen[v.value]}")
            seen[v.value] = v.name

    for s in h.structs:
        if not s.fields or s.fields[0].name != "struct_size" or s.fields[0].type != "size_t":
            problems.append(f"struct {s.name} (line {s.line}) does not start with size_t struct_size")
        for f in s.fields:
            if f.array is not None:
                problems.append(f"struct {s.name} (line {s.line}): field {f.name} is a fixed-size array [{f.array}]")
            if f.callback:
                ps = f.callback["params"]
                names = [p["name"] for p in ps]
                if "user_data" in names and names[0] != "user_data":
                    problems.append(f"struct {s.name}: callback field {f.name} does not take user_data first")
                for p in ps:
                    if p["array"] is not None:
                        problems.append(f"struct {s.name}: callback field {f.name} has a fixed-size array parameter {p['name']}")

    for c in h.callbacks:
        names = [p.name for p in c.params]
        if "user_data" in names and names[0] != "user_data":
            problems.append(f"callback {c.name} (line {c.line}) does not take user_data first")
        for p in c.params:
            if p.array is not None:
                problems.append(f"callback {c.name} (line {c.line}) has a fixed-size array parameter {p.name}")

    for f in h.functions:
        where = f"{f.name} (line {f.line})"
        if not f.doc:
            problems.append(f"{where} has no doc comment")
        params = f.params
        # The stream's place.
        for i, p in enumerate(params):
            if p.type.replace("const ", "") != "aph_stream*" or p.name != "stream":
                continue
            if f.name.startswith("aph_stream_"):
                if i != 0:
                    problems.append(f"{where}: a function of the stream takes it first")
                continue
            rest = params[i + 1:]
            if any(not is_out_pointer(q) for q in rest):
                problems.append(f"{where}: stream must be the last parameter before the out pointers")
        for p in params:
            if p.name in DIM_NAMES and p.type != "int64_t":
                problems.append(f"{where}: dimension index {p.name} is {p.type}, not int64_t")
            if p.array is not None:
                problems.append(f"{where}: parameter {p.name} is a fixed-size array [{p.array}]; take a capacity")
        # user_data right after its callback.
        for i, p in enumerate(params):
            if p.name == "user_data":
                prev = params[i - 1] if i else None
                if prev is None or not (prev.type in callbacks or prev.type == "fnptr" or prev.type.endswith("_callback")):
                    problems.append(f"{where}: user_data does not follow the callback it is for")
        # get_ only in get/set pairs or where the plain name is a type.
        m = re.fullmatch(r"(aph_\w+?)_get_(\w+)", f.name)
        if m:
            pair = f"{m.group(1)}_set_{m.group(2)}"
            plain = f"{m.group(1)}_{m.group(2)}"
            if not any(g.name == pair for g in h.functions) and plain not in types:
                problems.append(f"{where}: named get_ but has no {pair} and {plain} is not a type (call it {plain})")
    return problems


def main(argv) -> int:
    path = argv[1] if len(argv) > 1 else ah.DEFAULT_HEADER
    try:
        h = ah.parse(path)
    except ah.HeaderError as e:
        print(f"check_header: {path}: {e}")
        return 1
    problems = check(h)
    for p in problems:
        print(f"check_header: {p}")
    print(f"check_header: {len(h.functions)} functions, {len(h.enums)} enums, {len(h.structs)} structs, "
          f"{len(h.callbacks)} callback types: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
