#!/bin/sh
# Builds and runs the examples (device_tracker.c, dlpack_exchange.c, transformer_layer.c) the ways a user would:
#   pkgconfig              cc $(pkg-config --cflags --libs aphelion) against the installed prefix
#   find_package           a CMake project using find_package(aphelion) against the installed prefix
#   find_package_versions  SameMajorVersion: which versions find_package accepts
#   uninstalled            pkg-config's aphelion-uninstalled.pc against the build tree
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
    for ex in device_tracker dlpack_exchange transformer_layer; do
        # shellcheck disable=SC2046
        "$cc" -std=c11 -Wall -Wextra -Werror "$src/examples/$ex.c" \
            $(pkg-config --cflags --libs aphelion) -lm -o "$work/$ex"
        LD_LIBRARY_PATH="$libdir" "$work/$ex"
    done
    ;;
find_package)
    cmake -S "$src/examples" -B "$work" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_BUILD_TYPE=Release >"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
    cmake --build "$work" >>"$work.log" 2>&1 || { cat "$work.log"; exit 1; }
    # The imported target carries the installed library's location (build RPATH).
    "$work/device_tracker"
    "$work/dlpack_exchange"
    "$work/transformer_layer"
    ;;
find_package_versions)
    # Any MAJOR.x up to the installed version is accepted; the next major and a newer minor are not.
    version=$(sed -n 's/^Version: //p' "$libdir/pkgconfig/aphelion.pc")
    major=${version%%.*}
    rest=${version#*.}
    minor=${rest%%.*}
    try() {
        mkdir -p "$work/$1"
        printf 'cmake_minimum_required(VERSION 3.25)\nproject(v LANGUAGES C)\nfind_package(aphelion %s REQUIRED)\n' \
            "$1" >"$work/$1/CMakeLists.txt"
        cmake -S "$work/$1" -B "$work/$1/build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/$1.log" 2>&1
    }
    try "$major.0" || { cat "$work/$major.0.log"; echo "find_package($major.0) should succeed"; exit 1; }
    try "$major.$minor" || { echo "find_package($major.$minor) should succeed"; exit 1; }
    if try "$((major + 1)).0"; then echo "find_package($((major + 1)).0) should fail"; exit 1; fi
    if try "$major.$((minor + 1))"; then echo "find_package($major.$((minor + 1))) should fail"; exit 1; fi
    echo "find_package: $major.0 and $major.$minor accepted, $((major + 1)).0 and $major.$((minor + 1)) refused"
    echo "example: ok"
    ;;
uninstalled)
    export PKG_CONFIG_PATH="$build/pkgconfig"
    export PKG_CONFIG_LIBDIR="$build/pkgconfig"
    cflags=$(pkg-config --cflags aphelion-uninstalled)
    libs=$(pkg-config --libs aphelion-uninstalled)
    echo "aphelion-uninstalled: $cflags $libs"
    for ex in device_tracker dlpack_exchange transformer_layer; do
        # shellcheck disable=SC2086
        "$cc" -std=c11 -Wall -Wextra -Werror "$src/examples/$ex.c" $cflags $libs -lm -o "$work/$ex"
        LD_LIBRARY_PATH="$build/lib" "$work/$ex"
    done
    ;;
*)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
