// PRIVATE: CUDA error checks and stream-ordered scratch memory.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "vecpress/cuda/runtime.hpp"
#include "vecpress/types.hpp"

namespace vecpress {
namespace cuda {
namespace detail {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw CudaError(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

// After a <<<...>>> launch: configuration errors surface here, not later.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

inline int current_sm_count() {
  int dev = 0, sms = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  return sms;
}

// Allows a kernel to use `bytes` of dynamic shared memory, or explains why not.
inline void reserve_shared(const void* kernel, size_t bytes, const char* what) {
  int dev = 0, optin = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev),
        "cudaDeviceGetAttribute");
  if (bytes > size_t(optin))
    throw Error(std::string(what) + " needs " + std::to_string(bytes) +
                " bytes of shared memory per block, this device allows " + std::to_string(optin));
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)),
        "cudaFuncSetAttribute");
}

// Device buffer allocated and freed in stream order: no host synchronisation.
template <class T>
class Scratch {
 public:
  Scratch(size_t count, cudaStream_t stream) : stream_(stream) {
    if (count) check(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), count * sizeof(T), stream),
                     "cudaMallocAsync");
  }
  ~Scratch() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  cudaStream_t stream_;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace detail
}  // namespace cuda
}  // namespace vecpress
