#!/usr/bin/env bash
# Builds Loom with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (or
# $LOOM_ASAN_BUILD) and runs the whole CPU test suite there. Any sanitizer report fails
# the test that triggered it.
#
# usage: scripts/asan-suite.sh [ctest arguments...]   (default: -LE gpu -j2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${LOOM_ASAN_BUILD:-$root/build-asan}
# vptr needs RTTI, which Loom builds without (like LLVM).
flags="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" -DLOOM_FUZZ=OFF
cmake --build "$build"
# Leaks are not errors here (MLIR keeps process-lifetime singletons). LLVM's
# BumpPtrAllocator poisons its slabs when the code that inlines it is instrumented, but
# libMLIR.so is not, so its own allocations would read as use-after-poison: manual
# poisoning is off (heap, stack and global checks stay on).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:allow_user_poisoning=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ $# -eq 0 ]; then set -- -LE gpu -j2; fi
ctest --test-dir "$build" --output-on-failure "$@"
