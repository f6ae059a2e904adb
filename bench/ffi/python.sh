#!/usr/bin/env bash
# bench/ffi's Python row: the same two workloads as c_baseline.c through the ctypes binding
# (aphelion.raw for the getter, the idiomatic Executor for the run), medians of 7. Exit 77
# when python3 or numpy is missing. BUILD_DIR (default build) gives the library.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
command -v python3 >/dev/null 2>&1 || exit 77
python3 -c "import numpy" 2>/dev/null || exit 77
lib=$(ls "$BUILD_DIR"/lib/libaphelion.so.0 2>/dev/null || true)
[ -n "$lib" ] || { echo "python.sh: no $BUILD_DIR/lib/libaphelion.so.0" >&2; exit 1; }
APHELION_LIBRARY=$lib APHELION_FORCE_CPU=1 PYTHONPATH=bindings/python PYTHONDONTWRITEBYTECODE=1 python3 - <<'PY'
import json, statistics, time
import numpy as np
import aphelion

tracker = aphelion.Tracker(0)
f = aphelion.raw.aph_tracker_allocated_bytes
h = tracker._h
ex = aphelion.Executor(aphelion.Graph.load("bench/ffi/small.json"), "cpu")
x = aphelion.empty([1, 16])
trivial, run = [], []
for _ in range(7):
    n = 1_000_000
    t0 = time.perf_counter_ns()
    for _ in range(n):
        f(h)
    trivial.append((time.perf_counter_ns() - t0) / n)
    m = 20_000
    t0 = time.perf_counter_ns()
    for _ in range(m):
        ex.set_input("x", x)
        aphelion.raw.aph_executor_run(ex._h)
    run.append((time.perf_counter_ns() - t0) / m)
print(json.dumps({"language": "python", "trivial_ns": round(statistics.median(trivial), 2),
                  "run_ns": round(statistics.median(run), 1)}))
PY
