#!/bin/sh
# csharp_installed: installs the build into a prefix under the C# build directory and runs part of
# the test runner against it, finding the library the way an installed program does: pkg-config's
# libdir on the loader path (LD_LIBRARY_PATH), Aphelion.dll.config mapping "aphelion" to
# libaphelion.so.0, no APHELION_LIBRARY.
#   run-installed.sh BUILD_DIR CS_OUT SOURCE_DIR [PREFIX]   (PREFIX: an existing install; else
#                                                           this script installs into CS_OUT)
set -eu
build=$1 out=$2 src=$3
if [ $# -ge 4 ]; then
    prefix=$4
else
    prefix=$out/installed-prefix
    rm -rf "$prefix"
    cmake --install "$build" --prefix "$prefix" >/dev/null
fi
pcdir=$(dirname "$(find "$prefix" -name aphelion.pc | head -n 1)")
command -v pkg-config >/dev/null || { echo "run-installed.sh: pkg-config missing; skipped"; exit 77; }
libdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir aphelion)
[ -e "$libdir/libaphelion.so.0" ] || { echo "run-installed.sh: $libdir/libaphelion.so.0 missing"; exit 1; }
unset APHELION_LIBRARY
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} mono "$out/AphelionTests.exe" --source-dir "$src" \
    CoreTests.TestVersion CoreTests.TestGraphAndExecutor InstalledTests ModelTests.TestLoadErrors
