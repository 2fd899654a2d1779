#!/usr/bin/env bash
# Configures and builds Loom in build/ (or $LOOM_BUILD_DIR). Arguments go to cmake,
# e.g. scripts/build.sh -DLOOM_BUILD_COMPILER=OFF for the runtime alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_BUILD_DIR:-$root/build}
cmake -G Ninja -S "$root" -B "$build" "$@"
cmake --build "$build"
