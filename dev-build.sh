#!/usr/bin/env bash
# Developer loop: incremental CMake build of the extensions into build-dev/ and
# a copy next to the sources, so `PYTHONPATH=python python -c "import vecpress"`
# uses them without reinstalling. Users install with pip (see README).
set -euo pipefail
cd "$(dirname "$0")"
BUILD=${BUILD:-build-dev}
CUDA=${VECPRESS_CUDA:-OFF}
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVECPRESS_CUDA="$CUDA" \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" >/dev/null
fi
cmake --build "$BUILD" -j "${JOBS:-2}"
# Copy, then rename over the old module: a process that has it loaded keeps its mapping
# (overwriting the mapped file in place crashed running tests with SIGBUS).
install_so() { cp "$1" "python/vecpress/.$(basename "$1").tmp" && mv -f "python/vecpress/.$(basename "$1").tmp" "python/vecpress/$(basename "$1")"; }
for so in "$BUILD"/cpp/_core*.so; do install_so "$so"; done
if ls "$BUILD"/cuda/_cuda*.so >/dev/null 2>&1; then for so in "$BUILD"/cuda/_cuda*.so; do install_so "$so"; done; fi
