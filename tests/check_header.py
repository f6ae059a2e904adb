#!/usr/bin/env python3
"""The header's own rules (include/aphelion.h opening comment, "Rules of this API"), checked.

Registered in CTest as check_header (label abi). Fails, naming each offender and the rule, when:
  - the header holds a construct tools/aphelion_header.py cannot read;
  - rule 1 (enums): an enum is declared without APH_ENUM, leaves a value implicit, or gives a
    value twice;
  - rule 2 (structs): a struct (every struct in the header is passed by the caller) does not
    start with `size_t struct_size`, or a struct, a callback type, a callback field or a
    function parameter is a fixed-size array;
  - rule 5, the stream: a parameter of type aph_stream* (of a function, a callback type or a
    callback field of a struct) is not last, or last before the out pointers (T** / out_*);
    functions of the stream object itself, aph_stream_*, take it first;
  - rule 5, callbacks: a callback type or field has a `user_data` that is not its first
    parameter; a registration takes a callback and its user_data apart (user_data must follow
    the callback) or puts a destroy callback anywhere but right after user_data;
  - rule 5, getters: `_get_` appears in a function name outside the two cases the rules allow (a
    get/set pair, or aph_<object>_<property> being a type's name);
  - rule 5, integer types: a dimension index (dim, dim0, dim1, axis; dims entries) is not
    int64_t; a shape or strides array is not int64_t; a count (ndim, count, capacity, index into
    a list, n_*, *_count, *_capacity, *_index; their out pointers) is not size_t (device ordinals
    and counts excepted: int32_t, as CUDA's);
  - rule 5, severity: an enum named *_level whose values do not ascend with severity (TRACE <
    DEBUG < INFO < WARN < ERROR), or two of them that give one name ("DEBUG") different numbers;
  - rule 5, ownership: a function returning a handle or a pointer (const char*, shapes, data)
    says nothing of its lifetime (borrowed, static, valid ..., life), or a char** out string's
    doc does not say it is freed with aph_string_free;
  - rule 7: an exported function has no doc comment.
What a program cannot check is left to review: open enums, accepted struct sizes, out
parameters written only on success, booleans (any non-zero argument true, results exactly 0 or
1), when the last error is set, process-wide state.

    python3 tests/check_header.py [path/to/aphelion.h]
    python3 tests/check_header.py --self-test     each rule broken once in a copy of the header:
                                                  every break must be reported
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import aphelion_header as ah  # noqa: E402

DIM_NAMES = {"dim", "dim0", "dim1", "axis"}
SHAPE_NAMES = {"shape", "strides", "dims", "out_shape"}
LIFETIME_WORDS = re.compile(r"borrowed|static|valid|life", re.I)
SEVERITY = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]  # ascending


def is_out_pointer(p) -> bool:
    return p.name == "out" or p.name.startswith("out_")


def is_stream(p) -> bool:
    return p.type.replace("const ", "") == "aph_stream*"


def is_count(name: str) -> bool:
    base = name[4:] if name.startswith("out_") else name
    if "device" in base:
        return False  # device ordinals and the device count are int32_t, as CUDA's (rule 5)
    return (base in ("ndim", "count", "capacity", "index") or base.startswith("n_")
            or base.endswith(("_count", "_capacity", "_index")))


def _params(plist):
    """Params of a callback field (dicts) as objects with .type and .name."""
    return [ah.Param(type=d["type"], name=d["name"], array=d["array"], callback=d["callback"]) for d in plist]


def check_stream_place(where, params, stream_first=False):
    problems = []
    for i, p in enumerate(params):
        if not is_stream(p):
            continue
        if stream_first:
            if i != 0:
                problems.append(f"{where}: a function of the stream takes it first (rule 5)")
            continue
        if any(not is_out_pointer(q) for q in params[i + 1:]):
            problems.append(f"{where}: the stream ({p.name}) must be the last parameter, or the last before "
                            f"the out pointers (rule 5)")
    return problems


def check_callback(where, params):
    problems = []
    names = [p.name for p in params]
    if "user_data" in names and names[0] != "user_data":
        problems.append(f"{where} does not take user_data first (rule 5)")
    for p in params:
        if p.array is not None:
            problems.append(f"{where} has a fixed-size array parameter {p.name} (rule 2)")
    problems += check_stream_place(where, params)
    return problems


def check_integer_types(where, params):
    problems = []
    dims_with_index = any(p.name in DIM_NAMES for p in params)
    for p in params:
        bare = p.type[:-1] if p.name.startswith("out_") and p.type.endswith("*") else p.type
        if p.name in DIM_NAMES and p.type != "int64_t":
            problems.append(f"{where}: dimension index {p.name} is {p.type}, not int64_t (rule 5)")
        elif p.name in SHAPE_NAMES and p.type.replace("const ", "") != "int64_t*":
            problems.append(f"{where}: {p.name} is {p.type}, not an int64_t array (rule 5)")
        elif is_count(p.name) and bare != "size_t" and not (p.name == "index" and dims_with_index):
            # (an index along a named dimension, as aph_tensor_select's, is a position in that
            # dimension: int64_t, negative from the end)
            problems.append(f"{where}: count {p.name} is {p.type}, not size_t (rule 5)")
    return problems


def check(h: ah.Header) -> list:
    problems = []
    types = {e.name for e in h.enums} | {s.name for s in h.structs} | set(h.opaque) | {c.name for c in h.callbacks}
    callbacks = {c.name for c in h.callbacks}

    # Rule 1.
    for e in h.enums:
        if not e.via_aph_enum:
            problems.append(f"enum {e.name} (line {e.line}) is not declared through APH_ENUM (rule 1)")
        seen = {}
        for v in e.values:
            if not v.explicit:
                problems.append(f"enum {e.name}: {v.name} has no explicit value (rule 1)")
            if v.value in seen:
                problems.append(f"enum {e.name}: {v.name} repeats the value {v.value} of {seen[v.value]} (rule 1)")
            seen[v.value] = v.name

    # Rule 5, severity.
    level_numbers = {}
    for e in h.enums:
        if not e.name.endswith("_level"):
            continue
        by_value = [v.name.rsplit("_", 1)[-1] for v in sorted(e.values, key=lambda v: v.value)]
        unknown = [s for s in by_value if s not in SEVERITY]
        if unknown:
            problems.append(f"enum {e.name}: unknown severity {unknown} (rule 5; known: {SEVERITY})")
        elif [SEVERITY.index(s) for s in by_value] != sorted(SEVERITY.index(s) for s in by_value):
            problems.append(f"enum {e.name}: severity levels must ascend ({' < '.join(SEVERITY)}) with their "
                            f"values (rule 5)")
        for v in e.values:
            short = v.name.rsplit("_", 1)[-1]
            if short in level_numbers and level_numbers[short][0] != v.value:
                problems.append(f"enum {e.name}: {v.name} is {v.value} but {level_numbers[short][1]} is "
                                f"{level_numbers[short][0]} (rule 5: same number for the same name)")
            level_numbers.setdefault(short, (v.value, v.name))

    # Rule 2 (and the callbacks inside structs).
    for s in h.structs:
        if not s.fields or s.fields[0].name != "struct_size" or s.fields[0].type != "size_t":
            problems.append(f"struct {s.name} (line {s.line}) does not start with size_t struct_size (rule 2)")
        for f in s.fields:
            if f.array is not None:
                problems.append(f"struct {s.name} (line {s.line}): field {f.name} is a fixed-size array "
                                f"[{f.array}] (rule 2)")
            if f.callback:
                ps = _params(f.callback["params"])
                problems += check_callback(f"struct {s.name}: callback field {f.name}", ps)
                problems += check_integer_types(f"struct {s.name}: callback field {f.name}", ps)
        problems += check_integer_types(f"struct {s.name}", [f for f in s.fields if not f.callback])

    for c in h.callbacks:
        problems += check_callback(f"callback {c.name} (line {c.line})", c.params)
        problems += check_integer_types(f"callback {c.name} (line {c.line})", c.params)

    for f in h.functions:
        where = f"{f.name} (line {f.line})"
        doc = f.doc or ""
        # Rule 7.
        if not f.doc:
            problems.append(f"{where} has no doc comment (rule 7)")
        params = f.params
        # Rule 5: the stream's place (inline callback parameters too).
        problems += check_stream_place(where, params, stream_first=f.name.startswith("aph_stream_"))
        for p in params:
            if p.callback:
                problems += check_callback(f"{where}: callback parameter {p.name}", _params(p.callback["params"]))
            if p.array is not None:
                problems.append(f"{where}: parameter {p.name} is a fixed-size array [{p.array}]; take a "
                                f"capacity (rule 2)")
        problems += check_integer_types(where, params)
        # Rule 5: registrations take (fn, user_data[, destroy]), adjacent.
        for i, p in enumerate(params):
            if p.name == "user_data":
                prev = params[i - 1] if i else None
                if prev is None or not (prev.type in callbacks or prev.type == "fnptr" or prev.type.endswith("_callback")):
                    problems.append(f"{where}: user_data does not follow the callback it is for (rule 5)")
            if p.name == "destroy" and (i == 0 or params[i - 1].name != "user_data"):
                problems.append(f"{where}: destroy must follow user_data (rule 5)")
        # Rule 5: get_ only in get/set pairs or where the plain name is a type.
        m = re.fullmatch(r"(aph_\w+?)_get_(\w+)", f.name)
        if m:
            pair = f"{m.group(1)}_set_{m.group(2)}"
            plain = f"{m.group(1)}_{m.group(2)}"
            if not any(g.name == pair for g in h.functions) and plain not in types:
                problems.append(f"{where}: named get_ but has no {pair} and {plain} is not a type "
                                f"(call it {plain}; rule 5)")
        # Rule 5: ownership shows (returned pointers say how long they live; char** strings how
        # they are freed).
        if f.doc and f.ret.endswith("*") and not LIFETIME_WORDS.search(doc):
            problems.append(f"{where}: returns {f.ret} but its doc states no lifetime (borrowed? valid "
                            f"until? static?) (rule 5)")
        if f.doc and any(p.type == "char**" for p in params) and "aph_string_free" not in doc:
            problems.append(f"{where}: a char** result must say it is freed with aph_string_free (rule 5)")
    return problems


# The self-test: each mutation breaks one rule in a copy of the real header; the check must name
# it (so a check that stops working fails the suite, not only a header that breaks a rule).
MUTATIONS = [
    # (what, text in the header, replacement, a substring the check must report)
    ("enum without APH_ENUM", "typedef APH_ENUM(aph_dtype) {", "typedef enum aph_dtype {",
     "enum aph_dtype (line"),
    ("implicit enum value", "APH_DTYPE_F16 = 1,", "APH_DTYPE_F16,", "APH_DTYPE_F16 has no explicit value"),
    ("repeated enum value", "APH_DTYPE_BF16 = 2,", "APH_DTYPE_BF16 = 1,", "repeats the value 1"),
    ("struct without struct_size", "typedef struct aph_plan_info {\n    size_t struct_size;",
     "typedef struct aph_plan_info {\n    size_t size;", "struct aph_plan_info (line"),
    ("fixed-size array in a struct", "    const char* const* dim_names;",
     "    int64_t dims_fixed[APH_TENSOR_MAX_DIMS];", "field dims_fixed is a fixed-size array"),
    ("user_data last in a callback type",
     "typedef void (*aph_deleter)(void* user_data, void* data);",
     "typedef void (*aph_deleter)(void* data, void* user_data);", "callback aph_deleter"),
    ("stream first in an operation",
     "APH_API aph_status aph_op_softmax(const aph_tensor* x, aph_tensor* out, aph_stream* stream);",
     "APH_API aph_status aph_op_softmax(aph_stream* stream, const aph_tensor* x, aph_tensor* out);",
     "aph_op_softmax (line"),
    ("stream before out pointers in a callback field",
     "const aph_tensor* const* inputs, aph_tensor* out, aph_stream* stream);",
     "aph_stream* stream, const aph_tensor* const* inputs, aph_tensor* out);",
     "callback field cuda: the stream"),
    ("an undocumented function", "/** The number of nodes (the last node's id) and of edges; 0 for NULL. */\n", "",
     "aph_graph_node_count (line"),
    ("get_ without a pair", "APH_API int32_t aph_device_ordinal(", "APH_API int32_t aph_device_get_ordinal(",
     "named get_ but has no aph_device_set_ordinal"),
    ("size_t dimension index", "aph_tensor_transpose(aph_tensor* tensor, int64_t dim0,",
     "aph_tensor_transpose(aph_tensor* tensor, size_t dim0,", "dimension index dim0 is size_t"),
    ("int count", "APH_API aph_status aph_graph_edge(const aph_graph* graph, size_t index,",
     "APH_API aph_status aph_graph_edge(const aph_graph* graph, int index,", "count index is int"),
    ("descending severity", "    APH_LOG_TRACE = 0,\n    APH_LOG_DEBUG = 1,\n    APH_LOG_INFO = 2,\n"
     "    APH_LOG_WARN = 3,\n    APH_LOG_ERROR = 4",
     "    APH_LOG_ERROR = 0,\n    APH_LOG_WARN = 1,\n    APH_LOG_INFO = 2,\n"
     "    APH_LOG_DEBUG = 3,\n    APH_LOG_TRACE = 4", "severity levels must ascend"),
    ("destroy apart from user_data",
     "aph_hook_fn fn,\n                                             void* user_data, void (*destroy)(void* user_data));",
     "void (*destroy)(void* user_data),\n                                             aph_hook_fn fn, void* user_data);",
     "destroy must follow user_data"),
    ("user_data apart from its callback", "aph_log_set_callback(aph_log_callback cb, void* user_data)",
     "aph_log_set_callback(void* user_data, aph_log_callback cb)", "user_data does not follow the callback"),
    ("a borrowed result without a lifetime",
     "\"\" for NULL. Borrowed from the\n *  device, valid while the handle lives, as the name below. */",
     "\"\" for NULL. */", "aph_device_label (line"),
    ("a char** result without aph_string_free",
     "free with aph_string_free). Returns APH_OK whether or not the configuration is",
     "the caller's). Returns APH_OK whether or not the configuration is",
     "aph_model_config_validation_errors (line"),
]


def self_test() -> int:
    import tempfile
    with open(ah.DEFAULT_HEADER, encoding="utf-8") as fh:
        text = fh.read()
    baseline = check(ah.parse(ah.DEFAULT_HEADER))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "aphelion.h")
        for what, old, new, expect in MUTATIONS:
            if text.count(old) != 1:
                print(f"check_header self-test: {what}: the text to mutate is in the header "
                      f"{text.count(old)} times (update MUTATIONS)")
                failures += 1
                continue
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text.replace(old, new))
            found = [p for p in check(ah.parse(path)) if p not in baseline]
            if not any(expect in p for p in found):
                print(f"check_header self-test: {what}: no problem containing {expect!r}; found {found}")
                failures += 1
    print(f"check_header self-test: {len(MUTATIONS)} mutations, {failures} not caught")
    return 1 if failures else 0


def main(argv) -> int:
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
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
