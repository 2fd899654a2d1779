#!/usr/bin/env bash
# Installs everything Loom needs to build and test on Debian 12 (bookworm).
# Usage: scripts/install-deps.sh [--runtime-only]
#   --runtime-only  skip LLVM/MLIR and ONNX (enough for -DLOOM_BUILD_COMPILER=OFF)
set -euo pipefail

runtime_only=0
for arg in "$@"; do
  case "$arg" in
    --runtime-only) runtime_only=1 ;;
    *) echo "install-deps.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install-deps.sh: must run as root or with sudo available" >&2; exit 1
  fi
fi

packages=(cmake ninja-build g++ ccache python3 libgtest-dev nlohmann-json3-dev)
if [ "$runtime_only" -eq 0 ]; then
  # LLVM/MLIR 22 come from bookworm-security; only one libmlir-N-dev may be installed.
  packages+=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
             libonnx-dev libprotobuf-dev protobuf-compiler
             clang libclang-rt-dev # clang: the libFuzzer targets (tests/fuzz)
             libgloo-dev)          # data-parallel training over Gloo (loom launch)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
