#!/usr/bin/env bash
# Makes sure the Rust toolchain is there for the Rust binding's tests (tools/dev.sh test and
# .ci/run call it). Idempotent, quiet, never fatal: when it cannot install cargo, it says so and
# the tests report themselves skipped.
if command -v cargo >/dev/null 2>&1 && cargo --version >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bindings/rust: installing cargo from Debian (apt-get install cargo)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          cargo rustc pkg-config >/dev/null; } ||
        echo "bindings/rust: apt-get install cargo failed; the Rust tests will be skipped"
else
    echo "bindings/rust: cargo not found and not root (or no apt-get); the Rust tests will be skipped"
fi
exit 0
