// _core.Index: the compact, sorted list of a scan's files.
#include <string_view>

#include "paths.h"
#include "python/bind_common.h"

namespace pdt::python {
namespace {

size_t entry(const Index& ix, int64_t i) {
  if (i < 0) i += static_cast<int64_t>(ix.size());
  if (i < 0 || static_cast<size_t>(i) >= ix.size()) throw py::index_error("index entry out of range");
  return static_cast<size_t>(i);
}

// The UTF-8 bytes of a str, owned by the str (no copy): the GIL must stay held while used.
std::string_view utf8(py::handle s) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s.ptr(), &n);
  if (!p) throw py::error_already_set();
  return {p, static_cast<size_t>(n)};
}

}  // namespace

void bind_index(py::module_& m) {
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
      .def_property_readonly("vanished", &Index::vanished)
      .def(
          "path",
          [](const Index& ix, int64_t i) {
            auto p = ix.path(entry(ix, i));
            return py::str(p.data(), p.size());
          },
          py::arg("i"))
      .def("size", [](const Index& ix, int64_t i) { return ix.file_size(entry(ix, i)); }, py::arg("i"))
      .def("find", [](const Index& ix, const std::string& p) { return ix.find(p); })
      .def(
          "find_many",
          [](const Index& ix, py::sequence paths) {
            const size_t n = py::len(paths);
            std::vector<std::string_view> views(n);
            std::vector<py::object> held(n);  // the strs whose bytes the views point into
            for (size_t k = 0; k < n; ++k) {
              held[k] = paths[k];
              if (!PyUnicode_Check(held[k].ptr())) throw py::type_error("find_many takes a sequence of str");
              views[k] = utf8(held[k]);
            }
            py::array_t<int64_t> out(static_cast<py::ssize_t>(n));
            ix.find_many(views.data(), n, out.mutable_data());
            return out;
          },
          py::arg("paths"))
      .def(
          "prefix_range",
          [](const Index& ix, const std::string& prefix) {
            auto [first, last] = ix.prefix_range(normalize_path(prefix, "prefix_range"));
            return py::make_tuple(first, last);
          },
          py::arg("prefix"))
      .def(
          "select",
          // A batch of sample indices -> (index entries, their total bytes), in one call: a
          // DataLoader worker does this for every batch, where numpy's array, range checks,
          // fancy indexing and sum would cost several times the native call.
          [](const Index& ix, Int64Array indices, py::object order) {
            const size_t n = static_cast<size_t>(indices.unchecked<1>().shape(0));
            Int64Array ord;
            size_t samples = ix.size();
            if (!order.is_none()) {
              ord = Int64Array::ensure(order);
              if (!ord || ord.ndim() != 1) throw py::type_error("order must be a 1-d integer array");
              samples = static_cast<size_t>(ord.shape(0));
            }
            py::array_t<int64_t> entries(static_cast<py::ssize_t>(n));
            uint64_t total =
                ix.select(indices.data(), n, order.is_none() ? nullptr : ord.data(), samples, entries.mutable_data());
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
      .def("save", [](const Index& ix, const std::string& f) { no_gil([&] { ix.save(f); }); })
      .def_static("load", [](const std::string& f) { return no_gil([&] { return std::make_shared<Index>(Index::load(f)); }); })
      .def(py::pickle([](const Index& ix) { return py::bytes(ix.serialize()); },
                      [](py::bytes b) {
                        std::string_view v = b;
                        return std::make_shared<Index>(Index::deserialize(v, "<pickle>"));
                      }));
}

}  // namespace pdt::python
