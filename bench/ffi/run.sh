#!/usr/bin/env bash
# bench/ffi: the cost of a call into libaphelion from each language, as a ratio to C measured in
# the same run. Builds nothing: run after the build (BUILD_DIR, default build).
#   bench/ffi/run.sh
# Each language present adds a script bench/ffi/<language>.sh that prints one JSON line
# {"language": ..., "trivial_ns": ..., "run_ns": ...} for the same two workloads as c_baseline.c
# (a tracker getter; one CPU run of bench/ffi/small.json with its input bound), medians of 7.
# A script that exits 77 (its toolchain is missing) is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BUILD_DIR=${BUILD_DIR:-build}
rows=$("$BUILD_DIR/bin/bench_ffi_c" bench/ffi/small.json)
for s in bench/ffi/*.sh; do
    [ "$s" = bench/ffi/run.sh ] && continue
    set +e
    row=$(bash "$s")
    rc=$?
    set -e
    if [ $rc -eq 77 ]; then echo "ffi: $s skipped (toolchain missing)" >&2; continue; fi
    [ $rc -eq 0 ] || { echo "ffi: $s failed ($rc)" >&2; exit 1; }
    rows+=$'\n'"$row"
done
python3 - "$rows" <<'PY'
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
c = rows[0]
print(f"{'language':<10} {'trivial ns':>11} {'x C':>7} {'run ns':>10} {'x C':>7}")
for r in rows:
    print(f"{r['language']:<10} {r['trivial_ns']:>11.2f} {r['trivial_ns'] / c['trivial_ns']:>7.1f} "
          f"{r['run_ns']:>10.1f} {r['run_ns'] / c['run_ns']:>7.2f}")
PY
