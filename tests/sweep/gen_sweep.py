#!/usr/bin/env python3
"""Generates the bad-input sweep (tests/sweep/, issue 21) from include/aphelion.h.

Every function the header declares (read by tools/aphelion_header.py) is called, one case at a
time, with:
  - valid arguments (the baseline), which must succeed: this proves the cases below fail for
    the reason they were given;
  - NULL for each pointer argument: APH_ERR_INVALID_ARGUMENT naming the argument, unless the
    argument may be NULL (then the call must succeed);
  - each enum argument outside its enum (1000 and -1000): APH_ERR_INVALID_ARGUMENT naming it;
  - each struct argument with struct_size 0 (APH_ERR_INVALID_ARGUMENT) and with a struct_size
    larger than the struct (a newer caller: it succeeds, and nothing past the struct this
    library knows is written);
  - the out-of-range sizes and values the table lists (by parameter name or per function),
    and the released or foreign handles it lists where the header promises detection.
Each failing call must leave a fresh message in aph_last_error() that begins with its status's
prefix (the header's comment on the status code) and leave its out parameters as they were
(they are pre-filled with a sentinel); functions that return no status must not touch
aph_last_error() at all. Nothing may crash (CI runs the sweep under ASan and UBSan too).

What cannot be read from the header (which pointers may be NULL, valid arguments that fit
together, documented no-ops) is in tests/sweep/sweep_table.toml, next to this file. A table
entry naming a function or parameter the header does not have makes the test fail, so the
table cannot rot silently.

A function without a row in the table is swept with default arguments. Its valid-arguments
call runs first as a probe: when it fails (a new function whose arguments the defaults do not
fit, or one taking a handle type without a fixture), the function is swept provisionally and
the test prints a NOTE instead of failing: every case still runs and must not crash, a failure
must carry its status's message and leave the out parameters alone, but which status is right
is not checked until someone adds the row. How to add one: tests/sweep/README.md.

    python3 tests/sweep/gen_sweep.py --header include/aphelion.h --table tests/sweep/sweep_table.toml \\
        --out build/tests/sweep_cases.c
"""
import argparse
import os
import re
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools"))
import aphelion_header as ah  # noqa: E402

BAD_ENUM_VALUES = ["1000", "-1000"]


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Gen:
    def __init__(self, header, table):
        self.h = header
        self.t = table
        self.problems = []
        self.notes = []  # printed by the test, not failures
        self.opaque = set(header.opaque)
        self.structs = {s.name: s for s in header.structs}
        self.enums = {e.name: e for e in header.enums}
        self.callbacks = {c.name for c in header.callbacks}
        self.fnames = {f.name for f in header.functions}
        self.check_table()

    # ---- the table against the header ----
    def check_table(self):
        funcs = self.t.get("functions", {})
        for name, entry in funcs.items():
            if name not in self.fnames:
                self.problems.append(f"[functions.{name}]: the header has no function {name}")
                continue
            f = self.h.function(name)
            pnames = {p.name for p in f.params}
            for key in ("nullable", "outs", "consumes"):
                for p in entry.get(key, []):
                    if p not in pnames:
                        self.problems.append(f"[functions.{name}] {key}: {name} has no parameter {p}")
            for p in entry.get("args", {}):
                if p not in pnames:
                    self.problems.append(f"[functions.{name}] args: {name} has no parameter {p}")
            for b in entry.get("bad", []):
                if b["param"] not in pnames:
                    self.problems.append(f"[functions.{name}] bad: {name} has no parameter {b['param']}")
        for name in self.t.get("skip", {}):
            if name not in self.fnames:
                self.problems.append(f"[skip] {name}: the header has no function {name}")
        for e in self.t.get("extra", []):
            if e["function"] not in self.fnames:
                self.problems.append(f"[[extra]] {e['function']}: the header has no function {e['function']}")
        # A handle type without a fixture, or a struct without a valid value, is passed as NULL:
        # the functions that take one are swept provisionally (see sw_probe), with a note.
        handles = self.t.get("handles", {})
        for o in sorted(self.opaque):
            if o not in handles:
                self.notes.append(f"no fixture for the handle type {o}: functions taking one get NULL and are "
                                  f"swept provisionally (add a fixture to sweep_support.c and name it in "
                                  f"[handles] of sweep_table.toml)")
        for s in self.structs:
            if s not in self.t.get("structs", {}) and self.struct_used_as_input(s):
                self.notes.append(f"no valid {s} in [structs] of sweep_table.toml: functions reading one get "
                                  f"NULL and are swept provisionally")

    def struct_used_as_input(self, s):
        for f in self.h.functions:
            for p in f.params:
                if self.base(p.type) == s and p.type.startswith("const "):
                    return True
        return False

    # ---- types ----
    @staticmethod
    def base(t):
        """The type without const, struct and stars: "const aph_tensor* const*" -> "aph_tensor"."""
        t = t.replace("const", " ").replace("struct ", " ").replace("*", " ")
        return " ".join(t.split())

    @staticmethod
    def stars(t):
        return t.count("*")

    def entry(self, f):
        return self.t.get("functions", {}).get(f.name, {})

    def has_row(self, f):
        return f.name in self.t.get("functions", {})

    def is_out(self, f, i):
        p = f.params[i]
        e = self.entry(f)
        if p.name in e.get("outs", []):
            return True
        if not (p.name == "out" or p.name.startswith("out_")):
            return False
        if self.stars(p.type) == 0:
            return False
        if self.stars(p.type) == 1 and p.type.startswith("const "):
            return False  # const T*: read, not written (const T** is an out pointer to const T*)
        if self.stars(p.type) == 1 and self.base(p.type) in self.opaque:
            return False  # an operation's out tensor: a caller-made input
        return True

    def out_kind(self, f, i):
        p = f.params[i]
        if self.stars(p.type) >= 2:
            return "ptr"
        if self.base(p.type) in self.structs:
            return "struct"
        names = [q.name for q in f.params]
        nxt = names[i + 1] if i + 1 < len(names) else ""
        if nxt == "capacity" or nxt == p.name.replace("out_", "") + "_capacity":
            return "array"
        if nxt.endswith("_capacity") and p.name.startswith("out_") and nxt.startswith(p.name[4:]):
            return "array"
        return "scalar"

    @staticmethod
    def doc_says_nullable(f, p):
        """For functions without a row: the doc comment says, without a condition, that p may be
        NULL ("options may be NULL", "destroy (may be NULL)", "a and b may each be NULL",
        "config NULL means ...")."""
        doc = " ".join((f.doc or "").split())
        n = re.escape(p.name)
        may = r"may (each |also |both )?be NULL\b(?! (only|when|if|unless|for))"
        return any(re.search(pat, doc) for pat in (
            rf"\b{n}\s*\(?\s*{may}", rf"\b{n} and \w+ {may}", rf"\b\w+ and {n} {may}", rf"\b{n} NULL means\b"))

    def nullable(self, f, p):
        e = self.entry(f)
        if p.name in e.get("nullable", []):
            return True
        if not self.has_row(f) and self.doc_says_nullable(f, p):
            return True
        if p.name == "user_data":
            return True
        if self.base(p.type) == "aph_stream" and p.name == "stream" and not f.name.startswith("aph_stream_"):
            return True  # header section 10: NULL means the default stream of the device concerned
        return False

    def default_arg(self, f, p):
        e = self.entry(f)
        if p.name in e.get("args", {}):
            return e["args"][p.name]
        names = self.t.get("names", {})
        b = self.base(p.type)
        # A handle, struct, enum or callback takes its type's default; names give the others.
        typed = ((b in self.opaque or b in self.structs) and self.stars(p.type) == 1) or \
            ((b in self.enums or b in self.callbacks) and self.stars(p.type) == 0)
        if p.name in names and not typed:
            return names[p.name]
        if p.type == "fnptr":
            return self.t.get("callbacks", {}).get(p.name, "NULL")
        if b in self.callbacks:
            return self.t.get("callbacks", {}).get(b, "NULL")
        if b in self.opaque and self.stars(p.type) == 1:
            return self.t.get("handles", {}).get(b, "NULL")
        if b in self.structs and self.stars(p.type) == 1:
            return self.t.get("structs", {}).get(b, "NULL")
        if b in self.enums and self.stars(p.type) == 0:
            if b in self.t.get("enums", {}):
                return self.t["enums"][b]
            e_ = self.enums[b]
            return next(v.name for v in e_.values if v.value >= 0)
        if self.stars(p.type) == 0:
            return "1.0" if b == "double" else "0"
        if b == "char":
            return c_str("sweep")
        return "NULL"

    # ---- emission ----
    def cases(self, f):
        """(description, {param: expression}, expectation, untouched-check wanted)"""
        e = self.entry(f)
        status = f.ret == "aph_status"
        out = []
        for i, p in enumerate(f.params):
            b = self.base(p.type)
            if self.stars(p.type) > 0 and p.type != "fnptr" or p.type == "fnptr" or b in self.callbacks:
                if self.is_out(f, i):
                    nullable = p.name in e.get("nullable", []) or (not self.has_row(f) and self.doc_says_nullable(f, p))
                else:
                    nullable = self.nullable(f, p)
                named = p.name
                if p.name in e.get("null_expect", {}):
                    want, named = e["null_expect"][p.name], None
                elif nullable:
                    want = "ok" if status else "quiet"
                else:
                    want = "APH_ERR_INVALID_ARGUMENT" if status else "quiet"
                out.append((f"{p.name} NULL", {p.name: "NULL"}, want, named))
            if b in self.enums and self.stars(p.type) == 0 and p.name not in e.get("enum_unchecked", []):
                for v in BAD_ENUM_VALUES:
                    want = e.get("bad_enum_expect", "APH_ERR_INVALID_ARGUMENT" if status else "quiet")
                    out.append((f"{p.name} {v}", {p.name: f"({p.type}){v}"}, want, p.name))
            if b in self.structs and self.stars(p.type) == 1 and not self.is_out(f, i):
                out.append((f"{p.name}->struct_size 0", {p.name: "SW_STRUCT0"}, "APH_ERR_INVALID_ARGUMENT" if status else "quiet", None))
                out.append((f"{p.name}->struct_size larger", {p.name: "SW_STRUCTBIG"}, "ok" if status else "quiet", None))
            if b in self.structs and self.stars(p.type) == 1 and self.is_out(f, i):
                out.append((f"{p.name}->struct_size 0", {p.name: "SW_STRUCT0"}, "APH_ERR_INVALID_ARGUMENT" if status else "quiet", None))
                out.append((f"{p.name}->struct_size larger", {p.name: "SW_STRUCTBIG"}, "ok" if status else "quiet", None))
            # Out-of-range values by parameter name (the table's [bad_values]).
            bv = self.t.get("bad_values", {}).get(p.name)
            if bv and p.name not in e.get("no_bad_values", []):
                for v in bv["values"]:
                    args = {p.name: v}
                    args.update(bv.get("with", {}))
                    want = bv.get("expect", "APH_ERR_INVALID_ARGUMENT") if status else "quiet"
                    out.append((f"{p.name} {v}", args, want, bv.get("names", p.name)))
        for b in e.get("bad", []):
            args = {b["param"]: b["value"]}
            args.update(b.get("with", {}))
            want = b.get("expect", "APH_ERR_INVALID_ARGUMENT") if status else "quiet"
            out.append((f"{b['param']} {b['value']}", args, want, b.get("names", b["param"])))
        for k in e.get("skip_cases", []):
            out = [c for c in out if c[0] != k]
        base_want = e.get("baseline", "ok" if status else "quiet")
        out.append(("valid arguments", {}, base_want, None))
        return out

    def emit_case(self, f, desc, override, want, name):
        e = self.entry(f)
        status = f.ret == "aph_status"
        lines = []
        decl, args, cleanup, untouched, consumed = [], [], [], [], []
        for i, p in enumerate(f.params):
            expr = override.get(p.name)
            b = self.base(p.type)
            v = f"a_{p.name}"
            if self.is_out(f, i) and expr == "NULL":
                args.append("NULL")
                continue
            if self.is_out(f, i):
                kind = self.out_kind(f, i)
                if kind == "ptr":
                    pointee = p.type[:-1].rstrip()
                    decl.append(f"{pointee} {v} = ({pointee})SW_SENTINEL_PTR;")
                    untouched.append((p.name, f"{v} == ({pointee})SW_SENTINEL_PTR"))
                    rel = self.release_of(f, p, pointee, v)
                    if rel:
                        cleanup.append(f"if ({v} != ({pointee})SW_SENTINEL_PTR && {v} != NULL) {{ {rel} }}")
                elif kind == "struct":
                    st = p.type.replace("*", "").strip()
                    if expr == "SW_STRUCT0":
                        decl.append(f"{st} {v}; memset(&{v}, SW_SENTINEL_BYTE, sizeof {v}); {v}.struct_size = 0;")
                        untouched.append((p.name, f"sw_all_sentinel(&{v}, sizeof {v}, sizeof(size_t))"))
                        expr = f"&{v}"
                    elif expr == "SW_STRUCTBIG":
                        decl.append(f"struct {{ {st} s; unsigned char extra[64]; }} {v}; memset(&{v}, SW_SENTINEL_BYTE, sizeof {v}); {v}.s.struct_size = sizeof {v};")
                        lines_after_ok = f"sw_expect_untouched({c_str(f.name)}, {c_str(desc)}, \"bytes past sizeof({st})\", sw_all_sentinel(&{v}, sizeof {v}, sizeof({st})));"
                        cleanup.append(lines_after_ok)
                        expr = f"&{v}.s"
                    else:
                        decl.append(f"{st} {v}; memset(&{v}, SW_SENTINEL_BYTE, sizeof {v}); {v}.struct_size = sizeof {v};")
                        untouched.append((p.name, f"sw_all_sentinel(&{v}, sizeof {v}, sizeof(size_t))"))
                elif kind == "array":
                    el = p.type[:-1].strip()
                    decl.append(f"{el} {v}[SW_ARRAY]; memset({v}, SW_SENTINEL_BYTE, sizeof {v});")
                    untouched.append((p.name, f"sw_all_sentinel({v}, sizeof {v}, 0)"))
                    if expr is None:
                        expr = v
                else:
                    el = p.type[:-1].strip()
                    decl.append(f"{el} {v}; memset(&{v}, SW_SENTINEL_BYTE, sizeof {v});")
                    untouched.append((p.name, f"sw_all_sentinel(&{v}, sizeof {v}, 0)"))
                if expr is None:
                    expr = f"&{v}"
                args.append(expr)
                continue
            if expr is None:
                expr = self.default_arg(f, p)
            if b in self.structs and self.stars(p.type) == 1 and expr in ("SW_STRUCT0", "SW_STRUCTBIG"):
                st = b
                src = self.default_arg(f, p)
                if src == "NULL":
                    src = None
                if expr == "SW_STRUCT0":
                    decl.append(f"{st} {v}; memset(&{v}, 0, sizeof {v});" + (f" {v} = *({src});" if src else "") + f" {v}.struct_size = 0;")
                    expr = f"&{v}"
                else:
                    decl.append(f"struct {{ {st} s; unsigned char extra[64]; }} {v}; memset(&{v}, 0, sizeof {v});" + (f" {v}.s = *({src});" if src else "") + f" {v}.s.struct_size = sizeof {v};")
                    expr = f"&{v}.s"
            if expr == "NULL" or expr.startswith("&"):
                args.append(expr)
            else:
                # Callbacks are passed uncast, so the compiler checks the fixtures' signatures.
                args.append(f"({p.type})({expr})" if p.type != "fnptr" and b not in self.callbacks else expr)
            if p.name in self.consumes(f) and re.fullmatch(r"fx\.\w+", expr or ""):
                consumed.append(expr)
        call = f"{f.name}({', '.join(args)})"
        lines.append("{")
        lines.append(f"    /* {desc} */")
        for d in decl:
            lines.append("    " + d)
        pre = self.pre_call(f, desc.startswith("valid arguments"))
        for l in pre:
            lines.append("    " + l)
        lines.append("    sw_mark();")
        fn, d = c_str(f.name), c_str(desc)
        if status:
            lines.append(f"    aph_status st = {call};")
            if want == "probe":
                lines.append(f"    sw_probe({fn}, st);")
            elif want == "nocrash":
                lines.append("    (void)st;")
            elif want == "ok":
                lines.append(f"    sw_expect_status({fn}, {d}, st, APH_OK, NULL);")
            elif want == "any":
                lines.append(f"    sw_expect_ok_or_message({fn}, {d}, st);")
            else:
                nm = c_str(name) if name else "NULL"
                lines.append(f"    sw_expect_status({fn}, {d}, st, {want}, {nm});")
            lines.append("    if (st == APH_OK) {")
            for c in cleanup:
                lines.append("        " + c)
            for c in consumed:
                lines.append(f"        {c} = NULL;")
            lines.append("    } else {")
            for pname, cond in untouched:
                lines.append(f"        sw_expect_untouched({fn}, {d}, {c_str(pname)}, {cond});")
            lines.append("    }")
        else:
            if f.ret == "void":
                lines.append(f"    {call};")
            else:
                lines.append(f"    {f.ret} r = {call};")
                lines.append("    (void)r;")
            if want == "quiet":
                lines.append(f"    sw_expect_quiet({fn}, {d});")
            elif want != "nocrash":
                self.problems.append(f"[functions.{f.name}]: expectation {want!r} for a function without status")
            for c in cleanup:
                lines.append("    " + c)
            for c in consumed:
                lines.append(f"    {c} = NULL;")
        for l in self.post_call(f, desc.startswith("valid arguments")):
            lines.append("    " + l)
        lines.append("}")
        return lines

    def consumes(self, f):
        e = self.entry(f)
        c = list(e.get("consumes", []))
        if f.name.endswith("_release") or f.name == "aph_string_free":
            if not (f.name.endswith("_release") and f"{f.name[:-len('_release')]}_retain" in self.fnames):
                c += [p.name for p in f.params]
        return c

    def pre_call(self, f, baseline):
        e = self.entry(f)
        out = []
        if baseline and f.name.endswith("_release"):
            retain = f.name[: -len("_release")] + "_retain"
            if retain in self.fnames:
                out.append(f"{retain}({self.default_arg(f, f.params[0])});  /* the release below drops this one */")
        if e.get("before"):
            out.append(e["before"])
        return out

    def post_call(self, f, baseline):
        e = self.entry(f)
        out = []
        if baseline and f.name.endswith("_retain"):
            rel = f.name[: -len("_retain")] + "_release"
            out.append(f"{rel}({self.default_arg(f, f.params[0])});  /* balances the retain */")
        if e.get("after"):
            out.append(e["after"])
        return out

    def release_of(self, f, p, pointee, v):
        e = self.entry(f)
        if p.name in e.get("cleanup", {}):
            return e["cleanup"][p.name].replace("$", v)
        if pointee.startswith("const "):
            return None  # borrowed
        b = self.base(pointee)
        if b in self.opaque:
            rel = f"{b}_release"
            if rel not in self.fnames:
                self.problems.append(f"{f.name}: no {rel} to release its {p.name}")
                return None
            return f"{rel}({v});"
        if pointee == "char*":
            return f"aph_string_free({v});"
        if b in ("DLManagedTensorVersioned", "DLManagedTensor"):
            return f"{v}->deleter({v});"
        self.problems.append(f"[functions.{f.name}] cleanup: how is its {p.name} ({pointee}) given back?")
        return None

    def generate(self):
        h = self.h
        body = []
        names = []
        skip = self.t.get("skip", {})
        funcs = [f for f in h.functions if f.name not in skip]
        extra = {}
        for x in self.t.get("extra", []):
            extra.setdefault(x["function"], []).append(x)
        for f in funcs:
            lines = [f"static void sweep_{f.name}(void** state) {{", "    (void)state;",
                     "    const int failures_before = sw_failures;",
                     f"    sw_begin_function({c_str(f.name)}, {1 if self.has_row(f) else 0});"]
            cases = self.cases(f)
            if not self.has_row(f) and f.ret == "aph_status":
                # No row: are the defaults valid arguments? (If not: swept provisionally.)
                cases.insert(0, ("valid arguments (probe)", {}, "probe", None))
            for desc, override, want, name in cases:
                for l in self.emit_case(f, desc, override, want, name):
                    lines.append("    " + l)
                if want == "probe":  # fresh fixtures for the cases: the probe may have changed them
                    lines.append("    assert_int_equal(sw_teardown(NULL), 0);")
                    lines.append("    assert_int_equal(sw_setup(NULL), 0);")
            for x in extra.get(f.name, []):
                lines.append("    {")
                lines.append(f"        /* {x['case']} */")
                for l in x["code"].strip().splitlines():
                    lines.append("        " + l)
                lines.append("    }")
            lines.append("    assert_int_equal(sw_failures, failures_before);")
            lines.append("}")
            body.append("\n".join(lines))
            names.append(f.name)
        return self.render(body, names, funcs)

    def render(self, body, names, funcs):
        prefixes = []
        st = self.enums.get("aph_status")
        for v in st.values if st else []:
            m = re.match(r'"([^":]*: )', v.comment or "")
            if v.value != 0 and m:
                prefixes.append(f"    case {v.name}: return {c_str(m.group(1))};")
            elif v.value != 0:
                self.problems.append(f"aph_status: {v.name} has no message format in its comment")
        out = [
            "/* Generated by tests/sweep/gen_sweep.py from include/aphelion.h and",
            " * tests/sweep/sweep_table.toml: do not edit. */",
            "#include \"sweep_support.h\"",
            "#include \"reliability_fixtures.h\"",
            "",
            "#include <math.h>",
            "#include <setjmp.h>",
            "#include <stdarg.h>",
            "#include <stdio.h>",
            "#include <string.h>",
            "",
            "#include <cmocka.h>",
            "",
            "const char* sw_status_prefix(aph_status status) {",
            "    switch (status) {",
            *prefixes,
            "    default: return NULL;",
            "    }",
            "}",
            "",
            "static void sweep_table_check(void** state) {",
            "    (void)state;",
            *[f"    printf(\"sweep: NOTE %s\\n\", {c_str(n)});" for n in self.notes],
            *[f"    sw_table_problem({c_str(p)});" for p in self.problems],
            f"    assert_int_equal({len(self.problems)}, 0);",
            "}",
            "",
            *body,
            "",
            "int main(void) {",
            "    setvbuf(stdout, NULL, _IOLBF, 0);",
            "    const struct CMUnitTest tests[] = {",
            "        cmocka_unit_test(sweep_table_check),",
            *[f"        cmocka_unit_test_setup_teardown(sweep_{n}, sw_setup, sw_teardown)," for n in names],
            "    };",
            "    const int rc = cmocka_run_group_tests(tests, NULL, NULL);",
            f"    printf(\"bad-input sweep: %d functions of %d in the header (%d swept provisionally), %d cases, "
            f"%d failures\\n\", {len(funcs)}, {len(self.h.functions)}, sw_provisional_count, sw_cases, sw_failures);",
            "    return rc;",
            "}",
        ]
        return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--header", default=ah.DEFAULT_HEADER)
    ap.add_argument("--table", default=os.path.join(HERE, "sweep_table.toml"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", metavar="REGEX", help="sweep only the functions whose names match")
    ap.add_argument("--pretend-new", metavar="REGEX",
                    help="forget the table's rows and extra cases of the functions whose names match, as if "
                         "they had just been added to the header (the sweep's own test of that case)")
    ap.add_argument("--pretend-new-handle", metavar="TYPE", action="append", default=[],
                    help="forget the table's fixture of this handle type, as if it were new")
    a = ap.parse_args()
    h = ah.parse(a.header)
    with open(a.table, "rb") as fh:
        table = tomllib.load(fh)
    if a.pretend_new:
        new = re.compile(a.pretend_new)
        table["functions"] = {k: v for k, v in table.get("functions", {}).items() if not new.search(k)}
        table["extra"] = [x for x in table.get("extra", []) if not new.search(x["function"])]
    for t in a.pretend_new_handle:
        table.get("handles", {}).pop(t, None)
    if a.only:
        only = re.compile(a.only)
        table.setdefault("skip", {}).update({f.name: "not in --only" for f in h.functions if not only.search(f.name)})
    g = Gen(h, table)
    text = g.generate()
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, a.out)
    for p in g.problems:
        print(f"gen_sweep: {p}", file=sys.stderr)
    for n in g.notes:
        print(f"gen_sweep: note: {n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
