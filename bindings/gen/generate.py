#!/usr/bin/env python3
"""The bindings' raw declarations, generated from include/aphelion.h (standard library only).

One generator for the four bindings: the header is read once by tools/aphelion_header.py, and
each language's module here (bindings/gen/lang_<language>.py) turns that description into the
committed files of its raw layer (ctypes tables, aphelion-sys declarations, cgo helpers, DllImport
declarations). The idiomatic layer of each binding is written by hand on top.

A language module defines:
    LANGUAGE = "python"
    def generate(header) -> dict[str, str]:   # repository-relative path -> file content

    python3 bindings/gen/generate.py [LANGUAGE...]           write the files
    python3 bindings/gen/generate.py --check [LANGUAGE...]   exit 1 when a committed file differs
                                                             from what the header gives (CTest:
                                                             bindings_generated_current)
"""
from __future__ import annotations

import argparse
import difflib
import glob
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)

import aphelion_header  # noqa: E402


def languages():
    mods = {}
    for path in sorted(glob.glob(os.path.join(HERE, "lang_*.py"))):
        name = os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods[mod.LANGUAGE] = mod
    return mods


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument("--header", default=aphelion_header.DEFAULT_HEADER)
    ap.add_argument("language", nargs="*")
    a = ap.parse_args(argv)
    mods = languages()
    unknown = [l for l in a.language if l not in mods]
    if unknown:
        print(f"generate.py: no generator for {', '.join(unknown)} (have: {', '.join(mods)})", file=sys.stderr)
        return 2
    header = aphelion_header.parse(a.header)
    stale = 0
    for lang in a.language or list(mods):
        for rel, text in sorted(mods[lang].generate(header).items()):
            path = os.path.join(ROOT, rel)
            old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
            if old == text:
                continue
            if a.check:
                stale += 1
                print(f"{rel} is not what bindings/gen/generate.py makes from the header "
                      f"(run: python3 bindings/gen/generate.py {lang}):", file=sys.stderr)
                sys.stderr.writelines(list(difflib.unified_diff(
                    (old or "").splitlines(True), text.splitlines(True), rel, "generated"))[:40])
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                print(f"wrote {rel}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
