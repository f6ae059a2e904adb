#!/usr/bin/env bash
# The ABI guard's own test: tools/abi.sh check, against a baseline of this very build, on
# variants of libaphelion.so made by relinking the build's objects:
#   - a function removed (hidden by the version script)          must fail
#   - a member inserted in the middle of a struct (aph_memory_stats,
#     its function's translation unit recompiled)                 must fail
#   - a function added                                            must pass, and be reported
#   - a member appended at the end of a struct (rule 2)           must pass
#   - the library unchanged                                       must pass
# Usage: tests/abi/test_abi_guard.sh BUILD_DIR (a Ninja build with debug information). Exit 77
# (skipped) without abigail-tools.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: test_abi_guard.sh BUILD_DIR}" && pwd)
for tool in abidw abidiff ninja; do
    command -v "$tool" >/dev/null || { echo "test_abi_guard: $tool not found: skipped"; exit 77; }
done
lib=$(ls "$build"/lib/libaphelion.so.[0-9]* | grep -E 'so\.[0-9]+$' | head -n1)
soname=$(basename "$lib")
tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT

check() {  # check NAME LIB EXPECT(pass|fail) [TEXT the output must contain]
    local name=$1 l=$2 expect=$3 text=${4:-} rc=0
    ABI_BASELINE=$tmp/base.abi "$src/tools/abi.sh" check "$l" >"$tmp/$name.out" 2>&1 || rc=$?
    if { [ "$expect" = pass ] && [ $rc -ne 0 ]; } || { [ "$expect" = fail ] && [ $rc -ne 1 ]; }; then
        echo "test_abi_guard: FAIL: $name: expected $expect, tools/abi.sh exited $rc:"
        cat "$tmp/$name.out"
        exit 1
    fi
    if [ -n "$text" ] && ! grep -q -- "$text" "$tmp/$name.out"; then
        echo "test_abi_guard: FAIL: $name: the report does not mention $text:"
        cat "$tmp/$name.out"
        exit 1
    fi
    echo "test_abi_guard: $name: $expect as expected"
}

ABI_BASELINE=$tmp/base.abi "$src/tools/abi.sh" update "$lib" >/dev/null
cmds=$(ninja -C "$build" -t commands aphelion)
link=$(grep -- ' -shared ' <<<"$cmds" | grep -- "-o lib/libaphelion.so" | tail -n1)
[ -n "$link" ] || { echo "test_abi_guard: cannot find the library's link command"; exit 1; }
compile_dm=$(grep -- "runtime/capi/device_memory.cpp.o -c " <<<"$cmds" | tail -n1)
[ -n "$compile_dm" ] || { echo "test_abi_guard: cannot find the compile command of runtime/capi/device_memory.cpp"; exit 1; }

relink() {  # relink NAME [sed expressions for the link command...]: the library as $tmp/NAME/$soname
    local name=$1
    shift
    mkdir -p "$tmp/$name"
    local c=$link
    c=$(sed -E "s# -o lib/libaphelion\.so[^ ]*# -o $tmp/$name/$soname#" <<<"$c")
    for e in "$@"; do c=$(sed -E "$e" <<<"$c"); done
    (cd "$build" && eval "$c") >"$tmp/$name.link" 2>&1 || { cat "$tmp/$name.link"; exit 1; }
}

# The library as built: nothing to report.
check unchanged "$lib" pass "matches"

# A function removed: the version script hides aph_tensor_narrow.
printf '{\n  global:\n    aph_*;\n  local:\n    aph_tensor_narrow;\n    *;\n};\n' >"$tmp/removed.map"
relink removed "s#--version-script=[^ ]*#--version-script=$tmp/removed.map#"
check removed "$tmp/removed/$soname" fail "aph_tensor_narrow"

# A function added.
printf '__attribute__((visibility("default"))) int aph_abi_guard_added(int x);\nint aph_abi_guard_added(int x) { return x + 1; }\n' >"$tmp/added.c"
cc -g -O2 -fPIC -c "$tmp/added.c" -o "$tmp/added.o"
relink added "s# -shared # -shared $tmp/added.o #"
check added "$tmp/added/$soname" pass "aph_abi_guard_added"

# aph_memory_stats with a member inserted after allocated_bytes, then with one appended.
struct_variant() {  # struct_variant NAME SED-ON-THE-HEADER EXPECT
    local name=$1 edit=$2 expect=$3
    mkdir -p "$tmp/$name-include"
    cp "$src"/include/*.h "$tmp/$name-include/"
    sed -i -E "$edit" "$tmp/$name-include/aphelion.h"
    local c=$compile_dm
    # Compiled against the edited copy, recorded in the debug information as the real header
    # (so the guard reads its types as public ones, as it would a real edit).
    c=$(sed -E "s#-I$src/include#-I$tmp/$name-include -fdebug-prefix-map=$tmp/$name-include=$src/include#; s# -MD -MT [^ ]+ -MF [^ ]+##; s# -o [^ ]+\.o # -o $tmp/$name.o #" <<<"$c")
    (cd "$build" && eval "$c") >"$tmp/$name.compile" 2>&1 || { cat "$tmp/$name.compile"; exit 1; }
    relink "$name" "s# CMakeFiles/aphelion\.dir/runtime/capi/device_memory\.cpp\.o # $tmp/$name.o #"
    check "$name" "$tmp/$name/$soname" "$expect" "aph_memory_stats"
}
struct_variant struct_inserted '/uint64_t allocated_bytes;/a\    uint64_t inserted_in_the_middle;' fail
struct_variant struct_appended '/uint64_t segments; /a\    uint64_t appended_at_the_end;' pass
echo "test_abi_guard: ok"
