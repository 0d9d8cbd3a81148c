// Device discovery. cudaGetDeviceCount fails (rather than returning 0) when
// there is no driver; that is reported as "no device", never thrown.
#include "detail/check.cuh"
#include "vecpress/cuda/runtime.hpp"

namespace vecpress {
namespace cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the error so later calls do not see it
    return 0;
  }
  return n;
}

std::string device_status() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  }
  return n > 0 ? std::string() : std::string("no CUDA device found");
}

DeviceInfo device_info(int device) {
  VP_CHECK(device >= 0 && device < device_count(), "no CUDA device " + std::to_string(device));
  cudaDeviceProp p;
  detail::check(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
  DeviceInfo info;
  info.name = p.name;
  info.major = p.major;
  info.minor = p.minor;
  info.sm_count = p.multiProcessorCount;
  info.total_memory = int64_t(p.totalGlobalMem);
  info.max_shared_per_block = int64_t(p.sharedMemPerBlockOptin);
  int clock_khz = 0, bus_bits = 0;
  detail::check(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device),
                "cudaDeviceGetAttribute");
  detail::check(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device),
                "cudaDeviceGetAttribute");
  // Double data rate: two transfers per clock.
  info.memory_bandwidth = 2.0 * double(clock_khz) * 1e3 * (double(bus_bits) / 8.0) / 1e9;
  return info;
}

}  // namespace cuda
}  // namespace vecpress
