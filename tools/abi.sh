#!/usr/bin/env bash
# The ABI guard (issue 21): libaphelion.so against the committed baseline of its major version.
#
#   tools/abi.sh check  [LIB]   fails on an incompatible change (a function removed or changed,
#                               a struct or enum changed other than by growing at the end, the
#                               SONAME changed); additions are reported, not failed
#   tools/abi.sh update [LIB]   writes the baseline of LIB's major version; refuses to replace an
#                               existing baseline by an incompatible one (that needs a new major
#                               version: bump APH_VERSION_MAJOR and the project VERSION, whose
#                               SONAME libaphelion.so.MAJOR then gets a baseline of its own)
#
# LIB defaults to build/lib/libaphelion.so.<major> (a build directory in its place: its
# lib/libaphelion.so.<major>); it must carry debug information (the default
# RelWithDebInfo build does). The baseline is tests/abi/<soname>.abi, written by abidw (Debian
# abigail-tools) over the interfaces the header declares; tests/abi/aphelion.abignore says which
# changes the API's rules make compatible (structs grow at the end: they start with struct_size).
# ABI_BASELINE=path overrides the baseline (the guard's own test, tests/abi/test_abi_guard.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
lib=${2:-}
if [ -z "$lib" ] || [ -d "$lib" ]; then  # a build directory (default: build)
    lib=$(ls "${lib:-build}"/lib/libaphelion.so.[0-9]* 2>/dev/null | grep -E 'so\.[0-9]+$' | head -n1 || true)
fi
if [ -z "$lib" ] || [ ! -f "$lib" ]; then
    echo "abi: no library (usage: tools/abi.sh check|update [path/to/libaphelion.so.N | build dir])" >&2
    exit 2
fi
for tool in abidw abidiff readelf python3; do
    command -v "$tool" >/dev/null || { echo "abi: $tool not found (Debian: abigail-tools, binutils, python3)" >&2; exit 2; }
done

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
lib_major=${soname##*.so.}
header_major=$(python3 -c 'import sys; sys.path.insert(0, "tools"); import aphelion_header as a; print(a.parse().version[0])')
if [ "$lib_major" != "$header_major" ]; then
    echo "abi: $lib has SONAME $soname but include/aphelion.h says APH_VERSION_MAJOR $header_major" >&2
    exit 1
fi
baseline=${ABI_BASELINE:-tests/abi/$soname.abi}
suppressions=tests/abi/aphelion.abignore
headers=include  # the public headers: types declared elsewhere (the handles' insides) are private
read_opts=(--drop-private-types --exported-interfaces-only)

# abidiff's exit status is a bit field: 1 error, 2 usage error, 4 an ABI change, 8 an
# incompatible one. Added symbols alone set 4; --no-added-syms leaves them out, so whatever is
# left is a change of what the baseline has.
# Both sides are compared as abidw writes them (the library is read once, as the baseline was:
# the header's interfaces and the types they reach, private ones left out).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dump() {  # dump LIB OUT
    abidw --headers-dir "$headers" "${read_opts[@]}" --drop-undefined-syms --no-corpus-path --no-comp-dir-path \
        --no-elf-needed --no-show-locs "$1" >"$2"
}
compare() {  # compare OLD NEW [extra abidiff options...]: prints the report, returns the status
    local old=$1 new=$2
    shift 2
    local rc=0
    abidiff --no-show-locs "$@" "$old" "$new" || rc=$?
    return $rc
}

case "$cmd" in
check)
    if [ ! -f "$baseline" ]; then
        echo "abi: FAIL: no baseline $baseline for $soname. A new major version commits its baseline in the" >&2
        echo "     same change (tools/abi.sh update); the previous major's stays as it was." >&2
        exit 1
    fi
    dump "$lib" "$tmp/lib.abi"
    rc=0
    report=$(compare "$baseline" "$tmp/lib.abi" --suppressions "$suppressions" --no-added-syms) || rc=$?
    if [ $((rc & 3)) -ne 0 ]; then
        echo "abi: abidiff failed ($rc):" >&2
        echo "$report" >&2
        exit 2
    fi
    if [ $((rc & 12)) -ne 0 ]; then
        echo "abi: FAIL: incompatible change against $baseline:" >&2
        echo "$report" >&2
        echo "abi: an incompatible change needs a new major version (APH_VERSION_MAJOR and the project" >&2
        echo "     VERSION, so the SONAME) and its baseline (tools/abi.sh update), bumped together." >&2
        exit 1
    fi
    # Everything else is an addition: added functions, structs grown at the end (shown here
    # without the suppressions).
    rc=0
    added=$(compare "$baseline" "$tmp/lib.abi") || rc=$?
    if [ $((rc & 4)) -ne 0 ]; then
        echo "abi: compatible with $baseline; additions (reported, not failed):"
        echo "$added"
    else
        echo "abi: $soname matches $baseline"
    fi
    ;;
update)
    dump "$lib" "$tmp/lib.abi"
    if [ -f "$baseline" ]; then
        rc=0
        report=$(compare "$baseline" "$tmp/lib.abi" --suppressions "$suppressions" --no-added-syms) || rc=$?
        if [ $((rc & 12)) -ne 0 ]; then
            echo "abi: refusing to replace $baseline with an incompatible ABI:" >&2
            echo "$report" >&2
            echo "abi: bump the major version first (the new SONAME gets a baseline of its own)." >&2
            exit 1
        fi
    fi
    mkdir -p "$(dirname "$baseline")"
    cp "$tmp/lib.abi" "$baseline"
    echo "abi: wrote $baseline ($(grep -c '<elf-symbol ' "$baseline") symbols)"
    ;;
*)
    echo "usage: tools/abi.sh check|update [path/to/libaphelion.so.N | build dir]" >&2
    exit 2
    ;;
esac
