"""Every function of include/aphelion.h is bound (the generated table) and used by the idiomatic
layer, or listed in bindings/python/BINDING_EXCLUSIONS with a reason."""
import glob
import os
import re
import subprocess
import sys

import pytest

import aphelion
from aphelion import _generated


def _header_functions(source_dir):
    tool = os.path.join(source_dir, "tools", "aphelion_header.py")
    if not os.path.exists(tool):
        pytest.skip("the source tree is not available (APHELION_TEST_SOURCE)")
    out = subprocess.check_output([sys.executable, tool, "--functions"], text=True)
    return [l.strip() for l in out.splitlines() if l.strip()]


def _exclusions(source_dir):
    path = os.path.join(source_dir, "bindings", "python", "BINDING_EXCLUSIONS")
    out = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        assert reason.strip(), f"BINDING_EXCLUSIONS: {name} has no reason"
        out[name] = reason.strip()
    return out


def test_generated_table_is_the_header(source_dir):
    fns = _header_functions(source_dir)
    assert sorted(_generated.FUNCTIONS) == sorted(fns)
    # and every one of them is exported by the loaded library
    assert aphelion._lib.MISSING == []


def test_idiomatic_layer_covers_the_header(source_dir):
    fns = _header_functions(source_dir)
    excl = _exclusions(source_dir)
    pkg = os.path.dirname(aphelion.__file__)
    src = "".join(open(f, encoding="utf-8").read() for f in glob.glob(os.path.join(pkg, "*.py"))
                  if not f.endswith("_generated.py"))
    used = set(re.findall(r"\baph_\w+", src))
    missing = [f for f in fns if f not in used and f not in excl]
    assert missing == [], f"header functions neither wrapped nor in BINDING_EXCLUSIONS: {missing}"
    stale = [n for n in excl if n not in fns]
    assert stale == [], f"BINDING_EXCLUSIONS names functions the header does not have: {stale}"
    both = [n for n in excl if n in used]
    assert both == [], f"BINDING_EXCLUSIONS lists functions the binding uses: {both}"
