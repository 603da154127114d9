// _core.Storage (a connected container), its IoProfile, and the calls that reach one.
#include "connect.h"
#include "python/bind_common.h"

namespace pdt::python {
namespace {

py::tuple stat_tuple(const FileInfo& f) { return py::make_tuple(f.size, f.mode, f.mtime_ns); }

std::shared_ptr<Storage> shared(std::unique_ptr<Storage> s) { return std::shared_ptr<Storage>(std::move(s)); }

void bind_profile(py::module_& m) {
  py::class_<IoProfile>(m, "IoProfile")
      .def_readonly("file_system", &IoProfile::file_system)
      .def_readonly("serial_writes", &IoProfile::serial_writes)
      .def_readonly("client_cache", &IoProfile::client_cache)
      .def_readonly("direct_write_min", &IoProfile::direct_write_min)
      .def_readonly("read_buffer", &IoProfile::read_buffer)
      .def_readonly("piece_size", &IoProfile::piece_size)
      .def_readonly("cpu_threads", &IoProfile::cpu_threads);
}

}  // namespace

void bind_storage(py::module_& m) {
  bind_profile(m);
  py::class_<Storage, std::shared_ptr<Storage>>(m, "Storage")
      .def_property_readonly("backend", &Storage::backend)
      .def_property_readonly("pool", &Storage::pool)
      .def_property_readonly("container", &Storage::container)
      .def_property_readonly("read_only", &Storage::read_only)
      .def_property_readonly("features", &Storage::features)
      .def_property_readonly("profile", [](const Storage& s) { return s.profile(); })  // a copy: frozen
      .def("describe", &Storage::describe)
      .def("stat",
           [](std::shared_ptr<Storage> s, const std::string& p) { return stat_tuple(no_gil([&] { return s->stat(p); })); })
      .def(
          "open",
          [](std::shared_ptr<Storage> s, const std::string& p, bool write, bool create, bool truncate, bool exclusive,
             uint32_t mode, const std::string& oclass, uint64_t chunk_size) {
            OpenOptions o{write, create, truncate, exclusive, mode, oclass, chunk_size};
            std::unique_ptr<File> f = no_gil([&] { return s->open(p, o); });
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
            with_buffers(held, [&] {
              without_gil([&](const InterruptCheck& chk) { s->read_batch(reqs, BatchOptions{depth, chk}); });
            });
            py::list out(n);
            for (size_t i = 0; i < n; ++i) out[i] = py::int_(reqs[i].nread);
            return out;
          },
          py::arg("paths"), py::arg("buffers"), py::arg("offsets") = py::none(), py::arg("up_to") = false,
          py::arg("depth") = 0)
      .def(
          "read_ranges",
          // Ranges into new bytes objects: each made at its length with the GIL held, filled
          // with it released (no scratch buffer, no copy), shrunk where the file ends first.
          [](std::shared_ptr<Storage> s, py::sequence paths, py::sequence offsets, py::sequence lengths,
             size_t depth) {
            size_t n = py::len(paths);
            if (py::len(offsets) != n || py::len(lengths) != n)
              throw py::value_error("paths, offsets and lengths differ in length");
            std::vector<py::object> made;
            made.reserve(n);
            std::vector<ReadRequest> reqs(n);
            for (size_t i = 0; i < n; ++i) {
              int64_t off = offsets[py::int_(i)].cast<int64_t>(), len = lengths[py::int_(i)].cast<int64_t>();
              if (off < 0 || len < 0) throw py::value_error("a range's offset and length must be >= 0");
              PyObject* b = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(len));
              if (b == nullptr) throw py::error_already_set();
              made.push_back(py::reinterpret_steal<py::object>(b));
              reqs[i].path = paths[i].cast<std::string>();
              reqs[i].offset = static_cast<uint64_t>(off);
              reqs[i].length = static_cast<uint64_t>(len);
              reqs[i].buf = PyBytes_AS_STRING(b);
              reqs[i].up_to = true;
            }
            without_gil([&](const InterruptCheck& chk) { s->read_batch(reqs, BatchOptions{depth, chk}); });
            py::list out(n);
            for (size_t i = 0; i < n; ++i) {
              if (reqs[i].nread < reqs[i].length) {
                PyObject* b = made[i].release().ptr();
                if (_PyBytes_Resize(&b, static_cast<Py_ssize_t>(reqs[i].nread)) != 0) throw py::error_already_set();
                made[i] = py::reinterpret_steal<py::object>(b);
              }
              out[i] = made[i];
            }
            return out;
          },
          py::arg("paths"), py::arg("offsets"), py::arg("lengths"), py::arg("depth") = 0)
      .def(
          "read_index",
          [](std::shared_ptr<Storage> s, std::shared_ptr<Index> ix, Int64Array indices, py::object out, size_t depth) {
            size_t n = static_cast<size_t>(indices.unchecked<1>().shape(0));
            py::array_t<int64_t> offsets(static_cast<py::ssize_t>(n + 1));
            std::vector<PyBuf> held;
            held.emplace_back(out, true);
            std::vector<ReadRequest> reqs =
                ix->plan_reads(indices.data(), n, held[0].data(), held[0].size(), offsets.mutable_data());
            with_buffers(held, [&] {
              without_gil([&](const InterruptCheck& chk) {
                s->read_batch(reqs, BatchOptions{depth, chk, /*normalized=*/true});
              });
            });
            return offsets;
          },
          py::arg("index"), py::arg("indices"), py::arg("out"), py::arg("depth") = 0)
      .def(
          "mkdirs", [](std::shared_ptr<Storage> s, const std::string& p, uint32_t mode) { no_gil([&] { s->mkdirs(p, mode); }); },
          py::arg("path"), py::arg("mode") = 0755)
      .def(
          "remove",
          [](std::shared_ptr<Storage> s, const std::string& p, bool recursive) { no_gil([&] { s->remove(p, recursive); }); },
          py::arg("path"), py::arg("recursive") = false)
      .def("keep_as",
           [](std::shared_ptr<Storage> s, const std::string& a, const std::string& b) {
             return no_gil([&] { return s->keep_as(a, b); });
           })
      .def("rename",
           [](std::shared_ptr<Storage> s, const std::string& a, const std::string& b) { no_gil([&] { s->rename(a, b); }); })
      .def("listdir",
           [](std::shared_ptr<Storage> s, const std::string& p) { return no_gil([&] { return s->listdir(p); }); })
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
           [](std::shared_ptr<Storage> s) { return py::bytes(no_gil([&] { return s->serialize_handle(); })); })
      .def("hand_out", [](std::shared_ptr<Storage> s) { no_gil([&] { s->hand_out(); }); })
      .def("disconnect", [](std::shared_ptr<Storage> s) { no_gil([&] { s->disconnect(); }); });

  m.def(
      "connect_local",
      [](const std::string& root, const std::string& pool, const std::string& cont, bool ro, bool direct) {
        return shared(no_gil([&] { return connect_local(root, pool, cont, ro, direct); }));
      },
      py::arg("root"), py::arg("pool") = "", py::arg("container") = "", py::arg("read_only") = false,
      py::arg("direct_io") = false);
  m.def(
      "connect_dfs",
      [](const std::string& pool, const std::string& cont, const std::string& sys, bool ro) {
        return shared(no_gil([&] { return connect_dfs(pool, cont, sys, ro); }));
      },
      py::arg("pool"), py::arg("container"), py::arg("system") = "", py::arg("read_only") = false);
  m.def("attach", [](py::bytes blob) {
    std::string b = blob;
    return shared(no_gil([&] { return attach_storage(b); }));
  });
  m.def("close_kept_connections", [] { no_gil([] { close_kept_connections(); }); });
}

}  // namespace pdt::python
