// Device discovery for the CUDA kernels. Nothing here throws when there is no
// driver or no device: callers (the Python layer) decide what that means.
#pragma once
#include <cstdint>
#include <string>

#include "vecpress/types.hpp"

namespace vecpress {
namespace cuda {

// A failing CUDA runtime call (no device, out of memory, launch failure...),
// as opposed to a bad argument (plain vecpress::Error).
class CudaError : public Error {
 public:
  using Error::Error;
};

// Number of CUDA devices; 0 (never an exception) without a driver or device.
int device_count();

// Why device_count() is 0: the CUDA runtime's message, or "" when devices exist.
std::string device_status();

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;      // compute capability
  int sm_count = 0;
  int64_t total_memory = 0;      // bytes
  double memory_bandwidth = 0;   // theoretical peak, GB/s (2 * memory clock * bus width)
  int64_t max_shared_per_block = 0;  // opt-in maximum, bytes
};

// Throws vecpress::Error when `device` does not exist.
DeviceInfo device_info(int device);

}  // namespace cuda
}  // namespace vecpress
