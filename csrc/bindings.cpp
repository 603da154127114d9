// pybind11 only: turns Python buffers into spans, releases the GIL around every storage
// call, keeps Ctrl-C working during long calls, and turns core errors into OSError
// subclasses built by pydaos_torch/errors.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>

#include "dfs/dfs_api.h"
#include "storage.h"

namespace py = pybind11;
using namespace pdt;

namespace {

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

Storage& live(const std::shared_ptr<Storage>& s) { return *s; }

py::tuple stat_tuple(const FileInfo& f) { return py::make_tuple(f.size, f.mode, f.mtime_ns); }

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pydaos-torch native core: DAOS (libdfs via dlopen) and local-directory storage";

  // Core errors -> pydaos_torch.errors.from_native(...), which picks the OSError subclass.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StorageError& e) {
      const ErrorContext& c = e.context();
      const char* dn = e.der() ? der_name(e.der()) : nullptr;
      py::object exc = py::module_::import("pydaos_torch.errors")
                           .attr("from_native")(e.err(), e.der(), dn ? py::object(py::str(dn)) : py::object(py::none()), c.op,
                                                c.pool, c.container, c.path, e.what());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    }
  });

  py::class_<File, std::shared_ptr<File>>(m, "File")
      .def_property_readonly("path", &File::path)
      .def(
          "read_into",
          [](File& f, py::object buf, uint64_t offset, bool up_to) {
            PyBuf b(buf, true);
            return without_gil([&](const InterruptCheck&) { return f.read_at(b.data(), b.size(), offset, up_to); });
          },
          py::arg("buffer"), py::arg("offset") = 0, py::arg("up_to") = false)
      .def(
          "write",
          [](File& f, py::object buf, uint64_t offset) {
            PyBuf b(buf, false);
            without_gil([&](const InterruptCheck&) {
              f.write_at(b.data(), b.size(), offset);
              return 0;
            });
            return b.size();
          },
          py::arg("buffer"), py::arg("offset"))
      .def(
          "write_many",
          [](File& f, py::sequence bufs, py::sequence offsets, size_t depth) {
            if (py::len(bufs) != py::len(offsets)) throw py::value_error("buffers and offsets differ in length");
            std::vector<PyBuf> held;
            std::vector<WriteRequest> reqs;
            held.reserve(py::len(bufs));
            for (size_t i = 0; i < py::len(bufs); ++i) {
              held.emplace_back(bufs[i], false);
              reqs.push_back({held.back().data(), held.back().size(), offsets[i].cast<uint64_t>()});
            }
            without_gil([&](const InterruptCheck& chk) {
              f.write_many(reqs, BatchOptions{depth, chk});
              return 0;
            });
          },
          py::arg("buffers"), py::arg("offsets"), py::arg("depth") = 0)
      .def("size", [](File& f) { return without_gil([&](const InterruptCheck&) { return f.size(); }); })
      .def("truncate", [](File& f, uint64_t n) { without_gil([&](const InterruptCheck&) { f.truncate(n); return 0; }); })
      .def("sync", [](File& f) { without_gil([&](const InterruptCheck&) { f.sync(); return 0; }); })
      .def(
          "start_writeback",
          [](File& f, uint64_t off, uint64_t len) {
            return without_gil([&](const InterruptCheck&) { return f.start_writeback(off, len); });
          },
          py::arg("offset"), py::arg("length"))
      .def("close", [](File& f) { without_gil([&](const InterruptCheck&) { f.close(); return 0; }); });

  py::class_<Index, std::shared_ptr<Index>>(m, "Index")
      .def(py::init<>())
      .def_static(
          "build",
          [](const std::string& root, const std::vector<std::string>& paths, const std::vector<uint64_t>& sizes) {
            if (paths.size() != sizes.size()) throw py::value_error("paths and sizes differ in length");
            std::vector<Index::Entry> entries;
            entries.reserve(paths.size());
            for (size_t i = 0; i < paths.size(); ++i) entries.push_back({paths[i], sizes[i]});
            return std::make_shared<Index>(Index::build(root, std::move(entries)));
          },
          py::arg("root"), py::arg("paths"), py::arg("sizes"))
      .def("__len__", &Index::size)
      .def_property_readonly("root", &Index::root)
      .def(
          "path",
          [](const Index& ix, int64_t i) {
            if (i < 0) i += static_cast<int64_t>(ix.size());
            if (i < 0 || static_cast<size_t>(i) >= ix.size()) throw py::index_error("index entry out of range");
            auto p = ix.path(static_cast<size_t>(i));
            return py::str(p.data(), p.size());
          },
          py::arg("i"))
      .def(
          "size",
          [](const Index& ix, int64_t i) {
            if (i < 0) i += static_cast<int64_t>(ix.size());
            if (i < 0 || static_cast<size_t>(i) >= ix.size()) throw py::index_error("index entry out of range");
            return ix.file_size(static_cast<size_t>(i));
          },
          py::arg("i"))
      .def("find", [](const Index& ix, const std::string& p) { return ix.find(p); })
      .def(
          "select",
          // A batch of sample indices -> (index entries, their total bytes), in one call: a
          // DataLoader worker does this for every batch (numpy's array + range checks + fancy
          // indexing + sum cost about 25 µs per batch of 64).
          [](const Index& ix, py::array_t<int64_t, py::array::c_style | py::array::forcecast> indices,
             py::object order) {
            auto idx = indices.unchecked<1>();
            const size_t n = static_cast<size_t>(idx.shape(0));
            const int64_t* ord = nullptr;
            int64_t samples = static_cast<int64_t>(ix.size());
            py::array_t<int64_t, py::array::c_style | py::array::forcecast> ord_arr;
            if (!order.is_none()) {
              ord_arr = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(order);
              if (!ord_arr || ord_arr.ndim() != 1) throw py::type_error("order must be a 1-d integer array");
              ord = ord_arr.data();
              samples = static_cast<int64_t>(ord_arr.shape(0));
            }
            py::array_t<int64_t> entries(static_cast<py::ssize_t>(n));
            auto out = entries.mutable_unchecked<1>();
            uint64_t total = 0;
            for (size_t k = 0; k < n; ++k) {
              int64_t i = idx(k);
              if (i < -samples || i >= samples)
                throw py::index_error("sample index " + std::to_string(i) + " out of range for a dataset of " +
                                      std::to_string(samples));
              if (i < 0) i += samples;
              int64_t e = ord ? ord[i] : i;
              if (e < 0 || static_cast<size_t>(e) >= ix.size())
                throw py::index_error("index entry " + std::to_string(e) + " out of range");
              out(k) = e;
              total += ix.file_size(static_cast<size_t>(e));
            }
            return py::make_tuple(entries, total);
          },
          py::arg("indices"), py::arg("order") = py::none())
      .def_property_readonly("total_bytes", &Index::total_bytes)
      .def_property_readonly("memory_bytes", &Index::memory_bytes)
      .def_property_readonly("sizes",
                             [](std::shared_ptr<Index> ix) {
                               // a read-only view sharing the index's memory
                               py::array_t<uint64_t> a({ix->size()}, {sizeof(uint64_t)}, ix->sizes_data(), py::cast(ix));
                               py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
                               return a;
                             })
      .def("to_bytes", [](const Index& ix) { return py::bytes(ix.serialize()); })
      .def_static("from_bytes",
                  [](py::bytes b) {
                    std::string_view v = b;
                    return std::make_shared<Index>(Index::deserialize(v, "<bytes>"));
                  })
      .def("save",
           [](const Index& ix, const std::string& f) {
             without_gil([&](const InterruptCheck&) { ix.save(f); return 0; });
           })
      .def_static("load",
                  [](const std::string& f) {
                    return without_gil([&](const InterruptCheck&) { return std::make_shared<Index>(Index::load(f)); });
                  })
      .def(py::pickle([](const Index& ix) { return py::bytes(ix.serialize()); },
                      [](py::bytes b) {
                        std::string_view v = b;
                        return std::make_shared<Index>(Index::deserialize(v, "<pickle>"));
                      }));

  py::class_<Storage, std::shared_ptr<Storage>>(m, "Storage")
      .def_property_readonly("backend", &Storage::backend)
      .def_property_readonly("pool", &Storage::pool)
      .def_property_readonly("container", &Storage::container)
      .def_property_readonly("read_only", &Storage::read_only)
      .def_property_readonly("features", &Storage::features)
      .def("describe", &Storage::describe)
      .def("stat",
           [](std::shared_ptr<Storage> s, const std::string& p) {
             return stat_tuple(without_gil([&](const InterruptCheck&) { return s->stat(p); }));
           })
      .def(
          "open",
          [](std::shared_ptr<Storage> s, const std::string& p, bool write, bool create, bool truncate, bool exclusive,
             uint32_t mode, const std::string& oclass, uint64_t chunk_size) {
            OpenOptions o{write, create, truncate, exclusive, mode, oclass, chunk_size};
            std::unique_ptr<File> f = without_gil([&](const InterruptCheck&) { return s->open(p, o); });
            // the file keeps its storage alive
            File* raw = f.release();
            return std::shared_ptr<File>(raw, [s](File* x) { delete x; });
          },
          py::arg("path"), py::arg("write") = false, py::arg("create") = false, py::arg("truncate") = false,
          py::arg("exclusive") = false, py::arg("mode") = 0644, py::arg("object_class") = "",
          py::arg("chunk_size") = 0)
      .def(
          "read_batch",
          [](std::shared_ptr<Storage> s, py::sequence paths, py::sequence buffers, py::object offsets, bool up_to,
             size_t depth) {
            size_t n = py::len(paths);
            if (py::len(buffers) != n) throw py::value_error("paths and buffers differ in length");
            bool have_off = !offsets.is_none();
            if (have_off && py::len(offsets) != n) throw py::value_error("paths and offsets differ in length");
            std::vector<PyBuf> held;
            held.reserve(n);
            std::vector<ReadRequest> reqs(n);
            for (size_t i = 0; i < n; ++i) {
              held.emplace_back(buffers[i], true);
              reqs[i].path = paths[i].cast<std::string>();
              reqs[i].offset = have_off ? offsets[py::int_(i)].cast<uint64_t>() : 0;
              reqs[i].length = held.back().size();
              reqs[i].buf = held.back().data();
              reqs[i].up_to = up_to;
            }
            without_gil([&](const InterruptCheck& chk) {
              s->read_batch(reqs, BatchOptions{depth, chk});
              return 0;
            });
            py::list out(n);
            for (size_t i = 0; i < n; ++i) out[i] = py::int_(reqs[i].nread);
            return out;
          },
          py::arg("paths"), py::arg("buffers"), py::arg("offsets") = py::none(), py::arg("up_to") = false,
          py::arg("depth") = 0)
      .def(
          "read_index",
          [](std::shared_ptr<Storage> s, std::shared_ptr<Index> ix,
             py::array_t<int64_t, py::array::c_style | py::array::forcecast> indices, py::object out, size_t depth) {
            auto idx = indices.unchecked<1>();
            size_t n = static_cast<size_t>(idx.shape(0));
            py::array_t<int64_t> offsets(static_cast<py::ssize_t>(n + 1));
            auto off = offsets.mutable_unchecked<1>();
            PyBuf b(out, true);
            std::vector<ReadRequest> reqs(n);
            uint64_t cursor = 0;
            for (size_t k = 0; k < n; ++k) {
              int64_t i = idx(k);
              if (i < 0 || static_cast<size_t>(i) >= ix->size())
                throw py::index_error("index entry " + std::to_string(i) + " out of range");
              off(k) = static_cast<int64_t>(cursor);
              uint64_t len = ix->file_size(static_cast<size_t>(i));
              if (cursor + len > b.size())
                throw py::value_error("output buffer too small: " + std::to_string(b.size()) + " bytes for a batch of " +
                                      "at least " + std::to_string(cursor + len));
              reqs[k].path = ix->full_path(static_cast<size_t>(i));
              reqs[k].length = len;
              reqs[k].buf = b.data() + cursor;
              cursor += len;
            }
            off(n) = static_cast<int64_t>(cursor);
            without_gil([&](const InterruptCheck& chk) {
              s->read_batch(reqs, BatchOptions{depth, chk, /*normalized=*/true});
              return 0;
            });
            return offsets;
          },
          py::arg("index"), py::arg("indices"), py::arg("out"), py::arg("depth") = 0)
      .def(
          "mkdirs",
          [](std::shared_ptr<Storage> s, const std::string& p, uint32_t mode) {
            without_gil([&](const InterruptCheck&) { s->mkdirs(p, mode); return 0; });
          },
          py::arg("path"), py::arg("mode") = 0755)
      .def(
          "remove",
          [](std::shared_ptr<Storage> s, const std::string& p, bool recursive) {
            without_gil([&](const InterruptCheck&) { s->remove(p, recursive); return 0; });
          },
          py::arg("path"), py::arg("recursive") = false)
      .def("rename",
           [](std::shared_ptr<Storage> s, const std::string& a, const std::string& b) {
             without_gil([&](const InterruptCheck&) { s->rename(a, b); return 0; });
           })
      .def("listdir",
           [](std::shared_ptr<Storage> s, const std::string& p) {
             return without_gil([&](const InterruptCheck&) { return s->listdir(p); });
           })
      .def(
          "scan",
          [](std::shared_ptr<Storage> s, const std::string& p, size_t threads, uint32_t batch, py::object progress) {
            PendingError pending;
            ScanOptions o;
            o.threads = threads;
            o.readdir_batch = batch;
            if (!progress.is_none())
              o.progress = [&progress, &pending](uint64_t dirs, uint64_t files) {
                py::gil_scoped_acquire gil;
                if (pending.set()) return;
                try {
                  progress(dirs, files);
                } catch (py::error_already_set& e) {
                  e.restore();
                  pending.fetch();
                }
              };
            return without_gil(
                [&](const InterruptCheck& chk) {
                  o.interrupt = chk;
                  Index ix = s->scan(p, o);
                  if (pending.set()) throw Interrupted();  // the callback raised
                  return std::make_shared<Index>(std::move(ix));
                },
                &pending);
          },
          py::arg("path") = "/", py::arg("threads") = 0, py::arg("readdir_batch") = 128,
          py::arg("progress") = py::none())
      .def("serialize_handle",
           [](std::shared_ptr<Storage> s) {
             return py::bytes(without_gil([&](const InterruptCheck&) { return s->serialize_handle(); }));
           })
      .def("hand_out", [](std::shared_ptr<Storage> s) {
        without_gil([&](const InterruptCheck&) { s->hand_out(); return 0; });
      })
      .def("disconnect", [](std::shared_ptr<Storage> s) {
        without_gil([&](const InterruptCheck&) { s->disconnect(); return 0; });
      });

  m.def(
      "connect_local",
      [](const std::string& root, const std::string& pool, const std::string& cont, bool ro, bool direct) {
        return std::shared_ptr<Storage>(
            without_gil([&](const InterruptCheck&) { return connect_local(root, pool, cont, ro, direct); }));
      },
      py::arg("root"), py::arg("pool") = "", py::arg("container") = "", py::arg("read_only") = false,
      py::arg("direct_io") = false);
  m.def(
      "connect_dfs",
      [](const std::string& pool, const std::string& cont, const std::string& sys, bool ro) {
        return std::shared_ptr<Storage>(
            without_gil([&](const InterruptCheck&) { return connect_dfs(pool, cont, sys, ro); }));
      },
      py::arg("pool"), py::arg("container"), py::arg("system") = "", py::arg("read_only") = false);
  m.def("attach", [](py::bytes blob) {
    std::string b = blob;
    return std::shared_ptr<Storage>(without_gil([&](const InterruptCheck&) { return attach_storage(b); }));
  });
  m.def("dfs_available", [] {
    std::string why;
    bool ok = daos::available(&why);
    return py::make_tuple(ok, why);
  });
  m.def("libdfs_name", &daos::library_name);
  m.def("close_kept_connections", [] {
    without_gil([&](const InterruptCheck&) { close_kept_connections(); return 0; });
  });
  m.def("der_name", [](int der) {
    const char* n = der_name(der);
    return n ? py::object(py::str(n)) : py::object(py::none());
  });
}
