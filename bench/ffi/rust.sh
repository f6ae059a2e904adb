#!/usr/bin/env bash
# The Rust row of bench/ffi: bindings/rust/aphelion/examples/bench_ffi.rs built with --release
# against this build's libaphelion (BUILD_DIR, default build), one JSON line. Exit 77 without cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
command -v cargo >/dev/null 2>&1 || { echo "bench/ffi/rust.sh: cargo not found" >&2; exit 77; }
pc=$(cd "$BUILD_DIR/pkgconfig" && pwd)
env -u APHELION_LIB_DIR PKG_CONFIG_LIBDIR="$pc" PKG_CONFIG_PATH="$pc" \
    CARGO_TARGET_DIR="$BUILD_DIR/bindings/rust/target-bench" \
    cargo run --quiet --offline --release --manifest-path bindings/rust/Cargo.toml -p aphelion \
    --example bench_ffi -- bench/ffi/small.json
