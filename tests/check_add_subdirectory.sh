#!/bin/sh
# Embedding libaphelion with add_subdirectory(): a tiny parent project (written here) adds the
# source tree as a subdirectory, links aphelion::aphelion into a program and registers one test
# of its own. Checks that
#   1. configured without a build type, the parent's CMAKE_BUILD_TYPE stays empty (libaphelion
#      sets its default RelWithDebInfo only when it is the top-level project), and
#      APHELION_BUILD_TESTS / _EXAMPLES / _BENCH default to OFF;
#   2. the program builds, links aphelion::aphelion (include directory and library from the
#      target alone) and runs;
#   3. the parent's test list holds its own test only: no libaphelion test is registered;
#   4. configured with a build type, that build type stays.
# usage: check_add_subdirectory.sh SOURCE_DIR WORK_DIR C_COMPILER CXX_COMPILER BUILD_TYPE WERROR [LAUNCHER]
# (BUILD_TYPE: the one to check in 4; WERROR (ON/OFF) and LAUNCHER, e.g. ccache, are the calling
# build's; the CUDA module is left out: nvcc would only add minutes.)
set -eu
src=$1 work=$2 cc=$3 cxx=$4 build_type=${5:-Release} werror=${6:-OFF} launcher=${7:-}
rm -rf "$work"
mkdir -p "$work/parent"
cat >"$work/parent/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.25)
project(parent LANGUAGES C CXX)
add_subdirectory("$src" libaphelion)
add_executable(parent_app main.c)
target_link_libraries(parent_app PRIVATE aphelion::aphelion)
enable_testing()
add_test(NAME parent_own_test COMMAND parent_app)
EOF
cat >"$work/parent/main.c" <<'EOF'
#include <aphelion.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    int major = -1, minor = -1, patch = -1;
    aph_version(&major, &minor, &patch);
    if (major != APH_VERSION_MAJOR || minor != APH_VERSION_MINOR || patch != APH_VERSION_PATCH) {
        printf("parent: header %d.%d.%d, library %d.%d.%d\n", APH_VERSION_MAJOR, APH_VERSION_MINOR,
               APH_VERSION_PATCH, major, minor, patch);
        return 1;
    }
    aph_device* cpu = NULL;
    if (aph_device_open(APH_DEVICE_CPU, 0, &cpu) != APH_OK) {
        printf("parent: %s\n", aph_last_error());
        return 1;
    }
    const int64_t shape[] = {3};
    const float x[] = {1.0f, -2.0f, 3.0f};
    aph_tensor* t = NULL;
    aph_tensor* y = NULL;
    float back[3] = {0};
    if (aph_tensor_from_host(cpu, APH_DTYPE_F32, shape, 1, x, sizeof x, &t) != APH_OK ||
        aph_tensor_create(cpu, APH_DTYPE_F32, shape, 1, &y) != APH_OK ||
        aph_op_unary(APH_UNARY_RELU, t, y, NULL) != APH_OK || aph_tensor_to_host(y, back, sizeof back) != APH_OK) {
        printf("parent: %s\n", aph_last_error());
        return 1;
    }
    aph_tensor_release(y);
    aph_tensor_release(t);
    aph_device_release(cpu);
    if (back[0] != 1.0f || back[1] != 0.0f || back[2] != 3.0f) {
        printf("parent: relu gave %g %g %g\n", back[0], back[1], back[2]);
        return 1;
    }
    printf("parent: libaphelion %s embedded with add_subdirectory: ok\n", aph_version_string());
    return 0;
}
EOF

cache_value() { # cache_value BUILD_DIR NAME: the value of a cache entry ("" when absent or empty)
    sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt"
}
configure() { # configure BUILD_DIR [extra cmake arguments]: quiet unless it fails
    dir=$1
    shift
    cmake -S "$work/parent" -B "$dir" -G Ninja -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
        -DAPHELION_CUDA=OFF "$@" >"$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
}

# 1. No build type: it stays empty; our tests, examples and benchmarks are off. (Built in this
#    configuration: without optimisation flags the library compiles fastest.)
if [ -n "$launcher" ]; then
    configure "$work/none" -DAPHELION_WERROR="$werror" -DCMAKE_C_COMPILER_LAUNCHER="$launcher" \
        -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"
else
    configure "$work/none" -DAPHELION_WERROR="$werror"
fi
bt=$(cache_value "$work/none" CMAKE_BUILD_TYPE)
if [ -n "$bt" ]; then
    echo "the parent's CMAKE_BUILD_TYPE became '$bt' (it set none)"
    exit 1
fi
for opt in APHELION_BUILD_TESTS APHELION_BUILD_EXAMPLES APHELION_BUILD_BENCH; do
    v=$(cache_value "$work/none" $opt)
    if [ "$v" != "OFF" ]; then
        echo "$opt is '$v' in an embedding project; expected OFF"
        exit 1
    fi
done
echo "no build type: CMAKE_BUILD_TYPE stays empty; APHELION_BUILD_TESTS/EXAMPLES/BENCH OFF"

# 2. The program builds, links aphelion::aphelion (include directory and library from the
#    target alone) and runs.
cmake --build "$work/none" --target parent_app >"$work/none-build.log" 2>&1 ||
    { tail -50 "$work/none-build.log"; exit 1; }
"$work/none/parent_app"

# 3. The parent's tests: its own one only.
listed=$(cd "$work/none" && ctest -N | sed -n 's/^ *Test *#[0-9]*: //p')
if [ "$listed" != "parent_own_test" ]; then
    echo "the parent's ctest lists:"
    echo "$listed"
    echo "expected only parent_own_test (no libaphelion test)"
    exit 1
fi
echo "ctest lists only the parent's test"

# 4. A build type the parent sets stays as it is.
configure "$work/typed" -DCMAKE_BUILD_TYPE="$build_type"
bt=$(cache_value "$work/typed" CMAKE_BUILD_TYPE)
if [ "$bt" != "$build_type" ]; then
    echo "the parent's CMAKE_BUILD_TYPE became '$bt' (it set '$build_type')"
    exit 1
fi
echo "build type '$build_type' kept"
echo "add_subdirectory: ok"
