// Fork-join over std::thread: simple, no global pool state to leak across
// fork() or interpreter shutdown. Thread start cost (~20 us) is small next to
// the blocks of work each kernel hands out.
#include "vecpress/parallel.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace vecpress {

static std::atomic<int> g_default_threads{0};

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

int default_threads() {
  int n = g_default_threads.load();
  return n > 0 ? n : hardware_threads();
}

void set_default_threads(int n) { g_default_threads.store(n > 0 ? n : 0); }

void parallel_for(int64_t ntasks, int nthreads, const std::function<void(int64_t)>& fn) {
  if (ntasks <= 0) return;
  if (nthreads <= 0) nthreads = default_threads();
  if (int64_t(nthreads) > ntasks) nthreads = int(ntasks);
  if (nthreads <= 1) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex err_mu;
  auto worker = [&]() {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      int64_t t = next.fetch_add(1);
      if (t >= ntasks) return;
      try {
        fn(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (!first_error) first_error = std::current_exception();
        failed.store(true);
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(nthreads - 1);
  for (int i = 1; i < nthreads; ++i) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace vecpress
