#!/usr/bin/env bash
# The Go binding's toolchain: Go from Debian (golang-go, 1.19 on Debian 12) and pkg-config, which
# cgo's `#cgo pkg-config: aphelion` runs. Idempotent, quiet, never fatal: when Go cannot be
# installed, the binding's tests report themselves skipped (exit 77).
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkgconf)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "bindings/go/ensure-deps.sh: missing ${missing[*]} (run: sudo apt-get install ${missing[*]}); the go tests will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "bindings/go/ensure-deps.sh: could not install ${missing[*]}; the go tests will be skipped" >&2
fi
exit 0
