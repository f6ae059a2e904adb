#!/usr/bin/env bash
# The Go row of bench/ffi (see run.sh): builds bindings/go/cmd/aphelion-bench-ffi against
# BUILD_DIR's libaphelion (aphelion-uninstalled.pc) and prints its one JSON line. Exit 77 when
# Go or pkg-config is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=$(cd "${BUILD_DIR:-build}" && pwd)
for tool in go pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench/ffi/go.sh: $tool not found" >&2; exit 77; }
done
state="$build_dir/bindings/go"
mkdir -p "$state/bin"
export GOCACHE="$state/gocache" GOPATH="$state/gopath" GOPROXY=off GOFLAGS=-buildvcs=false CGO_ENABLED=1
export PKG_CONFIG_PATH="$build_dir/pkgconfig"
(cd bindings/go && go build -o "$state/bin/aphelion-bench-ffi" ./cmd/aphelion-bench-ffi)
LD_LIBRARY_PATH="$build_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$state/bin/aphelion-bench-ffi" bench/ffi/small.json
