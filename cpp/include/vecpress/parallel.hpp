// Minimal fork-join parallelism with exception capture.
#pragma once
#include <cstdint>
#include <functional>

namespace vecpress {

// Number of hardware threads (at least 1).
int hardware_threads();
// Threads used when a kernel is given nthreads <= 0 (default: all cores).
int default_threads();
void set_default_threads(int n);  // n <= 0 restores "all cores"

// Runs fn(task) for task in [0, ntasks) on up to nthreads threads (<= 0: default).
// Tasks are handed out dynamically. The first exception thrown by any task is
// rethrown on the calling thread after all workers have stopped.
void parallel_for(int64_t ntasks, int nthreads, const std::function<void(int64_t)>& fn);

}  // namespace vecpress
