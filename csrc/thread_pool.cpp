#include "thread_pool.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>

namespace pdt {

ThreadPool& ThreadPool::shared() {
  // Leaked on purpose: workers may outlive static destruction at interpreter exit.
  static ThreadPool* pool = [] {
    auto* p = new ThreadPool();
    pthread_atfork([] { ThreadPool::shared().before_fork(); },
                   [] { ThreadPool::shared().after_fork_parent(); },
                   [] { ThreadPool::shared().after_fork_child(); });
    return p;
  }();
  return *pool;
}

void ThreadPool::submit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(task));
  if (idle_ < queue_.size() && threads_.size() < max_threads()) start_thread_locked();
  cv_.notify_one();
}

size_t ThreadPool::thread_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

void ThreadPool::start_thread_locked() { threads_.emplace_back([this] { worker_loop(); }); }

void ThreadPool::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (stopping_) return;
    auto task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

void ThreadPool::add_fork_hooks(ForkHooks hooks) {
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.push_back(std::move(hooks));
}

void ThreadPool::before_fork() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
  mu_.lock();  // held across fork so the child sees a consistent queue
  forking_hooks_ = hooks_;
  for (auto& h : forking_hooks_)
    if (h.prepare) h.prepare();
}

void ThreadPool::after_fork_parent() {
  stopping_ = false;
  idle_ = 0;
  size_t want = std::min(queue_.size(), max_threads());
  for (size_t i = 0; i < want; ++i) start_thread_locked();
  std::vector<ForkHooks> hooks;
  hooks.swap(forking_hooks_);
  mu_.unlock();
  for (auto h = hooks.rbegin(); h != hooks.rend(); ++h)
    if (h->parent) h->parent();
}

void ThreadPool::after_fork_child() {
  stopping_ = false;
  idle_ = 0;
  queue_.clear();  // those tasks belong to callers that exist only in the parent
  std::vector<ForkHooks> hooks;
  hooks.swap(forking_hooks_);
  mu_.unlock();
  for (auto h = hooks.rbegin(); h != hooks.rend(); ++h)
    if (h->child) h->child();
}

void TaskGroup::spawn(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    ++state_->pending;
  }
  ThreadPool::shared().submit([state = state_, task = std::move(task)] {
    task();
    std::lock_guard<std::mutex> lock(state->mu);
    if (--state->pending == 0) state->done_cv.notify_all();
  });
}

bool TaskGroup::wait(const InterruptCheck& tick, std::chrono::milliseconds period) {
  State& s = *state_;
  bool stopped = false;
  std::unique_lock<std::mutex> lock(s.mu);
  while (s.pending > 0) {
    if (s.done_cv.wait_for(lock, period, [&s] { return s.pending == 0; })) break;
    if (tick && !stopped) {
      lock.unlock();
      if (tick()) {
        stopped = true;
        cancel();
      }
      lock.lock();
    }
  }
  return !stopped;
}

size_t cpu_count() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<size_t>(n) : 1;
}

}  // namespace pdt
