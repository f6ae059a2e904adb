#!/usr/bin/env bash
# Installs what the Python binding's tests need, idempotently and quietly; never fatal (the
# tests skip themselves, exit 77, when something is missing). numpy >= 2.1 is expected from the
# system; pytest and scikit-build-core (the self-contained wheel's build backend, used offline
# by the install tests with --no-build-isolation) come from PyPI. PyTorch is NOT installed here
# (3 GB): the PyTorch interop tests skip without it.
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
if [ ${#missing[@]} -gt 0 ]; then
    pip "${missing[@]}" || echo "python ensure-deps: could not install ${missing[*]} (python tests will skip)"
fi
exit 0
