// The _core module: pybind11 only. Each bound class has its file (bind_file, bind_index,
// bind_storage); this one translates core errors into the OSError subclasses built by
// pydaos_torch/errors.py and binds the DAOS probes.
#include "dfs/dfs_api.h"
#include "python/bind_common.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  using namespace pdt;
  m.doc() = "pydaos-torch native core: DAOS (libdfs via dlopen) and local-directory storage";

  // Core errors -> pydaos_torch.errors.from_native(...), which picks the OSError subclass.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const StorageError& e) {
      const ErrorContext& c = e.context();
      const char* dn = e.der() ? der_name(e.der()) : nullptr;
      py::object exc = py::module_::import("pydaos_torch.errors")
                           .attr("from_native")(e.err(), e.der(), dn ? py::object(py::str(dn)) : py::object(py::none()),
                                                c.op, c.pool, c.container, c.path, e.what());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    }
  });

  python::bind_file(m);
  python::bind_index(m);
  python::bind_storage(m);

  m.def("dfs_available", [] {
    std::string why;
    bool ok = daos::available(&why);
    return py::make_tuple(ok, why);
  });
  m.def("libdfs_name", &daos::library_name);
  m.def("der_name", [](int der) {
    const char* n = der_name(der);
    return n ? py::object(py::str(n)) : py::object(py::none());
  });
}
