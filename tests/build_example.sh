#!/bin/sh
# Builds and runs examples/device_tracker.c the ways a user would:
#   pkgconfig     cc $(pkg-config --cflags --libs aphelion) against the installed prefix
#   find_package  a CMake project using find_package(aphelion) against the installed prefix
#   uninstalled   pkg-config's aphelion-uninstalled.pc against the build tree
# usage: build_example.sh MODE SOURCE_DIR BUILD_DIR PREFIX CC LIBDIR (relative to PREFIX)
set -eu
mode=$1 src=$2 build=$3 prefix=$4 cc=$5 libdir=$4/$6
work=$build/example-$mode
rm -rf "$work"
mkdir -p "$work"
case $mode in
pkgconfig)
    # Only the installed prefix is visible to pkg-config here.
    export PKG_CONFIG_PATH="$libdir/pkgconfig"
    export PKG_CONFIG_LIBDIR="$libdir/pkgconfig"
    echo "pkg-config --cflags --libs aphelion: $(pkg-config --cflags --libs aphelion)"
    pkg-config --exact-version="$(pkg-config --modversion aphelion)" aphelion
    # shellcheck disable=SC2046
    "$cc" -std=c11 -Wall -Wextra -Werror "$src/examples/device_tracker.c" \
        $(pkg-config --cflags --libs aphelion) -o "$work/device_tracker"
    LD_LIBRARY_PATH="$libdir" "$work/device_tracker"
    ;;
find_package)
    cmake -S "$src/examples" -B "$work" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=Release >"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
    cmake --build "$work" >>"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
    # The imported target carries the installed library's location (build RPATH).
    "$work/device_tracker"
    ;;
uninstalled)
    export PKG_CONFIG_PATH="$build/pkgconfig"
    export PKG_CONFIG_LIBDIR="$build/pkgconfig"
    cflags=$(pkg-config --cflags aphelion-uninstalled)
    libs=$(pkg-config --libs aphelion-uninstalled)
    echo "aphelion-uninstalled: $cflags $libs"
    # shellcheck disable=SC2086
    "$cc" -std=c11 -Wall -Wextra -Werror "$src/examples/device_tracker.c" $cflags $libs \
        -o "$work/device_tracker"
    LD_LIBRARY_PATH="$build/lib" "$work/device_tracker"
    ;;
*)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
