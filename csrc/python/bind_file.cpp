// _core.File: an open file of a storage.
#include "python/bind_common.h"

namespace pdt::python {

void bind_file(py::module_& m) {
  py::class_<File, std::shared_ptr<File>>(m, "File")
      .def_property_readonly("path", &File::path)
      .def(
          "read_into",
          [](File& f, py::object buf, uint64_t offset, bool up_to) {
            std::vector<PyBuf> held;
            held.emplace_back(buf, true);
            PyBuf& b = held[0];
            return with_buffers(held, [&] { return no_gil([&] { return f.read_at(b.data(), b.size(), offset, up_to); }); });
          },
          py::arg("buffer"), py::arg("offset") = 0, py::arg("up_to") = false)
      .def(
          "write",
          [](File& f, py::object buf, uint64_t offset) {
            std::vector<PyBuf> held;
            held.emplace_back(buf, false);
            uint64_t n = held[0].size();
            with_buffers(held, [&] { no_gil([&] { f.write_at(held[0].data(), n, offset); }); });
            return n;
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
            with_buffers(held, [&] {
              without_gil([&](const InterruptCheck& chk) { f.write_many(reqs, BatchOptions{depth, chk}); });
            });
          },
          py::arg("buffers"), py::arg("offsets"), py::arg("depth") = 0)
      .def("size", [](File& f) { return no_gil([&] { return f.size(); }); })
      .def("truncate", [](File& f, uint64_t n) { no_gil([&] { f.truncate(n); }); })
      .def("sync", [](File& f) { no_gil([&] { f.sync(); }); })
      .def(
          "start_writeback", [](File& f, uint64_t off, uint64_t len) { return no_gil([&] { return f.start_writeback(off, len); }); },
          py::arg("offset"), py::arg("length"))
      .def("drop_clean_cache", [](File& f) { return no_gil([&] { return f.drop_clean_cache(); }); })
      .def("close", [](File& f) { no_gil([&] { f.close(); }); });
}

}  // namespace pdt::python
