// What every binding file shares: Python buffers held across a native call, the GIL
// released around it, and Ctrl-C answered while it runs.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "storage.h"

namespace pdt::python {

namespace py = pybind11;

// A Python buffer held for the duration of a native call.
class PyBuf {
 public:
  PyBuf(py::handle obj, bool writable) {
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj.ptr(), &view_, flags) != 0) throw py::error_already_set();
    held_ = true;
  }
  PyBuf(PyBuf&& o) noexcept : view_(o.view_), held_(o.held_) { o.held_ = false; }
  PyBuf(const PyBuf&) = delete;
  ~PyBuf() {
    if (held_) PyBuffer_Release(&view_);
  }
  char* data() const { return static_cast<char*>(view_.buf); }
  uint64_t size() const { return static_cast<uint64_t>(view_.len); }

 private:
  Py_buffer view_{};
  bool held_ = false;
};

// Runs a native call over `held` buffers. If the storage abandoned I/O in flight meanwhile
// (DAOS could not give its events back), DAOS may still write into them later: they are then
// kept alive for the life of the process, never handed back to Python to be freed.
template <typename F>
auto with_buffers(std::vector<PyBuf>& held, F&& fn) {
  struct Keep {
    std::vector<PyBuf>& held;
    uint64_t before;
    ~Keep() {
      if (abandoned_io_count() != before) new std::vector<PyBuf>(std::move(held));  // leaked on purpose
    }
  } keep{held, abandoned_io_count()};
  return fn();
}

// Python errors raised while the GIL was released (a signal handler's KeyboardInterrupt,
// a progress callback's exception), kept until the native call has unwound.
class PendingError {
 public:
  ~PendingError() {
    if (type_) {
      py::gil_scoped_acquire gil;
      Py_XDECREF(type_);
      Py_XDECREF(value_);
      Py_XDECREF(tb_);
    }
  }
  // Call with the GIL held and a Python error set.
  void fetch() {
    if (!type_) PyErr_Fetch(&type_, &value_, &tb_);
    else PyErr_Clear();
  }
  bool set() const { return type_ != nullptr; }
  [[noreturn]] void raise() {
    if (type_) {
      PyErr_Restore(type_, value_, tb_);
      type_ = value_ = tb_ = nullptr;
    } else {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
    throw py::error_already_set();
  }

 private:
  PyObject *type_ = nullptr, *value_ = nullptr, *tb_ = nullptr;
};

// Runs fn(interrupt_check) with the GIL released. The check reacquires the GIL briefly
// to run pending signal handlers; a KeyboardInterrupt stops the native call promptly.
template <typename F>
auto without_gil(F&& fn, PendingError* pending_in = nullptr) {
  PendingError local;
  PendingError& pending = pending_in ? *pending_in : local;
  InterruptCheck check = [&pending]() {
    py::gil_scoped_acquire gil;
    if (pending.set()) return true;
    if (PyErr_CheckSignals() != 0) {
      pending.fetch();
      return true;
    }
    return false;
  };
  try {
    py::gil_scoped_release release;
    return fn(check);
  } catch (const Interrupted&) {
    pending.raise();
  }
}

// Runs fn() with the GIL released, for calls that take no interrupt check.
template <typename F>
auto no_gil(F&& fn) {
  return without_gil([&](const InterruptCheck&) { return fn(); });
}

// A 1-d C-contiguous int64 array (a sequence or array of integers, converted if needed).
using Int64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

void bind_file(py::module_& m);
void bind_index(py::module_& m);
void bind_storage(py::module_& m);

}  // namespace pdt::python
