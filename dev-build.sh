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
cp "$BUILD"/cpp/_core*.so python/vecpress/
if ls "$BUILD"/cuda/_cuda*.so >/dev/null 2>&1; then cp "$BUILD"/cuda/_cuda*.so python/vecpress/; fi
