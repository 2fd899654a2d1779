#!/usr/bin/env bash
# Configures and builds the runtime alone (-DLOOM_BUILD_COMPILER=OFF) with LLVM and
# MLIR hidden from CMake, then checks that no compile command mentions them.
# Usage: runtime-only.sh <source dir> <scratch build dir>
set -euo pipefail
src=$1
build=$2
rm -rf "$build"
cmake -G Ninja -S "$src" -B "$build" -DLOOM_BUILD_COMPILER=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_MLIR=ON -DCMAKE_DISABLE_FIND_PACKAGE_LLVM=ON >/dev/null
cmake --build "$build" >/dev/null
if grep -E -i -- '-I[^ ]*(llvm|mlir)|isystem [^ ]*(llvm|mlir)' "$build/compile_commands.json"; then
  echo "runtime-only build: a compile command includes LLVM or MLIR headers" >&2
  exit 1
fi
if grep -E -i 'lib(MLIR|LLVM)' "$build/build.ninja"; then
  echo "runtime-only build: a target links LLVM or MLIR" >&2
  exit 1
fi
test -x "$build/bin/loom"
"$build/bin/loom" version
echo "runtime-only build: OK (no LLVM/MLIR in any compile or link command)"
