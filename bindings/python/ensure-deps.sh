#!/usr/bin/env bash
# Installs what the Python binding's tests need, idempotently and quietly; never fatal (the
# tests skip themselves, exit 77, when something is missing). numpy >= 2.1 is expected from the
# system; pytest and scikit-build-core (the self-contained wheel's build backend, used offline
# by the install tests with --no-build-isolation) come from PyPI. PyTorch too (about 80 s and
# 5 GB with its CUDA libraries, PyPI's only Linux build): the done-when asks for the
# PyTorch DLPack interop tests (tests/test_dlpack.py) to run in CI, and nothing else can stand in
# for the library users exchange tensors with. APHELION_NO_TORCH=1 leaves it out (those tests then
# skip); nothing else in CI imports it.
py=${PYTHON:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "python ensure-deps: $py not found (python tests will skip)"; exit 0; }
pip() { "$py" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; }
missing=()
"$py" -c "import pytest" 2>/dev/null || missing+=(pytest)
"$py" -c "import numpy" 2>/dev/null || missing+=("numpy>=2.1")
"$py" -c "import scikit_build_core" 2>/dev/null || missing+=("scikit-build-core>=0.10")
if ! "$py" -c "import venv, ensurepip" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "python$ver-venv"; } >/dev/null 2>&1 ||
            echo "python ensure-deps: could not install python$ver-venv (install tests will skip)"
    fi
fi
if [ "${APHELION_NO_TORCH:-0}" != 1 ] && ! "$py" -c "import torch" 2>/dev/null; then
    echo "python ensure-deps: installing torch from PyPI for the DLPack interop tests" >&2
    pip torch || echo "python ensure-deps: could not install torch (the PyTorch interop tests will skip)"
fi
if [ ${#missing[@]} -gt 0 ]; then
    pip "${missing[@]}" || echo "python ensure-deps: could not install ${missing[*]} (python tests will skip)"
fi
exit 0
