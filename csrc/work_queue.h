// A queue of work items run on up to N native threads, where items may add more items
// (a directory item adds its subdirectories). Used by both backends' namespace scans.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "storage.h"
#include "thread_pool.h"

namespace pdt {

class WorkQueue {
 public:
  using Item = std::function<void(WorkQueue&)>;

  void push(Item item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_) return;
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
  }

  bool cancelled() {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

  // Runs until every item has run. Throws the first item error, or Interrupted.
  void run(size_t threads, const InterruptCheck& tick) {
    TaskGroup group;
    for (size_t i = 0; i < threads; ++i) group.spawn([this] { worker(); });
    bool completed = group.wait([&] {
      bool stop = tick && tick();
      if (stop) cancel();
      return stop;
    });
    errors_.rethrow_if_failed();
    if (!completed) throw Interrupted();
  }

 private:
  void cancel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      items_.clear();
    }
    cv_.notify_all();
  }

  void worker() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return !items_.empty() || active_ == 0; });
      if (items_.empty()) {  // nothing queued and nobody running: all done
        cv_.notify_all();
        return;
      }
      Item item = std::move(items_.front());
      items_.pop_front();
      ++active_;
      lock.unlock();
      try {
        item(*this);
      } catch (...) {
        errors_.record(std::current_exception());
        cancel();
      }
      lock.lock();
      if (--active_ == 0 && items_.empty()) cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;
  size_t active_ = 0;
  bool cancelled_ = false;
  FirstError errors_;
};

}  // namespace pdt
