// The core's native threads: one process-wide pool that grows on demand, and task groups
// that a calling thread waits on while it keeps answering Ctrl-C.
//
// Fork safety: a pthread_atfork prepare handler stops and joins every worker (tasks in
// progress finish first), so a child never inherits a half-held lock or a thread that no
// longer exists; the parent gets its workers back at once, the child starts fresh ones on
// first use and drops tasks that belonged to the parent's callers. Other parts of the core
// add fork hooks that run after the workers are joined (e.g. the DAOS backend waits there
// until no thread is inside a DAOS call), so a hook never waits on a worker it would have to
// join first.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace pdt {

class ThreadPool {
 public:
  static ThreadPool& shared();

  // Queues a task; starts another thread if none is idle (up to max_threads()).
  void submit(std::function<void()> task);
  static size_t max_threads() { return 256; }
  size_t thread_count();

  // prepare runs in the parent before fork, after the workers are joined (hooks in order of
  // registration); parent/child run after fork, in reverse order, with the pool usable again.
  struct ForkHooks {
    std::function<void()> prepare, parent, child;
  };
  void add_fork_hooks(ForkHooks hooks);

  void before_fork();
  void after_fork_parent();
  void after_fork_child();

 private:
  ThreadPool() = default;
  void worker_loop();
  void start_thread_locked();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<ForkHooks> hooks_;
  std::vector<ForkHooks> forking_hooks_;  // those that ran prepare for the fork in progress
};

// Returned by an interrupt check: true means "stop now" (e.g. a pending KeyboardInterrupt).
using InterruptCheck = std::function<bool()>;

// A set of tasks run on the shared pool. wait() blocks the caller until every task ran,
// calling `tick` every `period` (progress, interrupt checks); when a tick returns true the
// group is cancelled: tasks should poll cancelled() and return early.
class TaskGroup {
 public:
  void spawn(std::function<void()> task);
  // Returns false when the wait was cut short by a tick asking to stop (after all tasks ended).
  bool wait(const InterruptCheck& tick,
            std::chrono::milliseconds period = std::chrono::milliseconds(50));
  bool cancelled() const { return state_->cancelled.load(std::memory_order_relaxed); }
  void cancel() { state_->cancelled.store(true, std::memory_order_relaxed); }

 private:
  // Shared with the tasks, so a finishing task never touches a group already destroyed.
  struct State {
    std::mutex mu;
    std::condition_variable done_cv;
    size_t pending = 0;
    std::atomic<bool> cancelled{false};
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Number of online CPUs (at least 1).
size_t cpu_count();

}  // namespace pdt
