#!/usr/bin/env bash
# CI step: compile the CUDA extension (vecpress._cuda) with warnings as errors
# when nvcc is available, and check that it loads without a GPU (device_count()
# must be 0, not an exception). Without nvcc it says so and succeeds, so the
# CPU-only pipeline is unaffected. Env: BUILD (build dir), JOBS (default 2),
# COPY=1 to also copy the module next to the sources (python/vecpress/).
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${CUDACXX:-$(command -v nvcc || true)}
if [ -z "$NVCC" ]; then
  echo "build_cuda: nvcc not found - skipping the CUDA compile step"
  exit 0
fi
BUILD=${BUILD:-build-ci-cuda}
start=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVECPRESS_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_FLAGS="-Werror all-warnings" \
  -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" >/dev/null
cmake --build "$BUILD" --target _cuda -j "${JOBS:-2}"
so=$(ls "$BUILD"/cuda/_cuda*.so)
(cd "$BUILD/cuda" && python3 -c "
import _cuda
n = _cuda.device_count()
print('build_cuda: _cuda loads; device_count() =', n, '' if n else '(' + _cuda.device_status() + ')')
")
if [ "${COPY:-0}" = 1 ]; then cp "$so" python/vecpress/; fi
echo "build_cuda: compiled $so in $(( $(date +%s) - start ))s"
