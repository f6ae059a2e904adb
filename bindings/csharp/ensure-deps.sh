#!/usr/bin/env bash
# Installs what the C# binding's tests need: Mono's C# compiler (mcs) and runtime from Debian
# (mono-mcs pulls in mscorlib, System, System.Core). Idempotent, quiet, never fatal: when the
# toolchain cannot be installed the csharp tests skip themselves (exit 77).
set -u
have() { command -v "$1" >/dev/null 2>&1; }
if have mcs && have mono; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! have apt-get; then
    echo "csharp/ensure-deps.sh: mcs/mono missing and cannot install them (need root and apt-get); csharp tests will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mono-mcs mono-runtime >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || echo "csharp/ensure-deps.sh: apt-get update failed" >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mono-mcs mono-runtime >/dev/null 2>&1 ||
        echo "csharp/ensure-deps.sh: apt-get install mono-mcs mono-runtime failed; csharp tests will be skipped" >&2
fi
exit 0
