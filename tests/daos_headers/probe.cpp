// What one side says about the DAOS client API we rely on, printed as JSON for
// tests/test_daos_headers.py, which compares the sides.  Built in one of three ways:
//   -DPROBE_REAL -I<daos-headers>/<tag>   DAOS's own public headers of one release
//   -DPROBE_OURS -I<repo>/csrc            our declarations (csrc/dfs/dfs_api.h, csrc/errors.cpp)
//   -DPROBE_FAKE -I<repo>/tests/fake_dfs  the test double's daos_types.h (-DFAKE_DAOS_VERSION=...)
// and -I<dir of funcs.inc>: the test writes F(name) for each function to describe.
//
// Types are described structurally, so typedefs vanish (daos_size_t == unsigned long) and our
// C++ structs are named after the DAOS type they stand for.  A type no side has named is a
// compile error that says so.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <climits>
#include <cstddef>
#include <cstdio>
#include <string>
#include <type_traits>

#if defined(PROBE_REAL)
#include <daos.h>
#include <daos_fs.h>
#elif defined(PROBE_FAKE)
#define _Static_assert static_assert  // the double is C11; this TU is C++
#include "daos_types.h"
#elif defined(PROBE_OURS)
#include "dfs/dfs_api.h"
#include "errors.cpp"  // NOLINT: its DER table is file-local; this TU reads it directly
#else
#error "define PROBE_REAL, PROBE_OURS or PROBE_FAKE"
#endif

namespace {

template <class T>
struct Name {
  static_assert(!sizeof(T*), "probe.cpp: give this type a name (NAME(...))");
};
template <class T>
struct Name<T*> {
  static std::string get() { return "P(" + Name<T>::get() + ")"; }
};
template <class T>
struct Name<const T> {
  static std::string get() { return "const " + Name<T>::get(); }
};
template <class T, std::size_t N>
struct Name<T[N]> {
  static std::string get() { return Name<T>::get() + "[" + std::to_string(N) + "]"; }
};
template <class R, class... A>
struct Name<R(A...)> {
  static std::string get() {
    std::string s = Name<R>::get() + "(";
    bool first = true;
    ((s += (first ? "" : ", ") + Name<A>::get(), first = false), ...);
    return s + ")";
  }
};
#define NAME(T, s)                                  \
  template <>                                       \
  struct Name<T> {                                  \
    static std::string get() { return s; }          \
  };

NAME(void, "void")
NAME(bool, "bool")
NAME(char, "char")
NAME(signed char, "signed char")
NAME(unsigned char, "unsigned char")
NAME(short, "short")
NAME(unsigned short, "unsigned short")
NAME(int, "int")
NAME(unsigned, "unsigned int")
NAME(long, "long")
NAME(unsigned long, "unsigned long")
NAME(long long, "long long")
NAME(unsigned long long, "unsigned long long")
NAME(struct stat, "struct stat")
NAME(struct dirent, "struct dirent")

#if defined(PROBE_OURS)
using namespace pdt::daos;
// the DAOS types our own structs stand for; the JSON uses DAOS's names
using daos_handle_t = handle_t;
using daos_obj_id_t = obj_id_t;
using d_iov_t = iov_t;
using d_sg_list_t = sg_list_t;
using daos_anchor_t = anchor_t;
using daos_event_t = event_t;
#endif
NAME(daos_handle_t, "daos_handle_t")
NAME(daos_obj_id_t, "daos_obj_id_t")
NAME(d_iov_t, "d_iov_t")
NAME(d_sg_list_t, "d_sg_list_t")
NAME(daos_anchor_t, "daos_anchor_t")
NAME(daos_event_t, "daos_event_t")
NAME(dfs_t, "dfs_t")
NAME(dfs_obj_t, "dfs_obj_t")
#if !defined(PROBE_OURS)
NAME(dfs_attr_t, "dfs_attr_t")
NAME(dfs_obj_info_t, "dfs_obj_info_t")
NAME(daos_pool_info_t, "daos_pool_info_t")
NAME(daos_cont_info_t, "daos_cont_info_t")
NAME(daos_prop_t, "daos_prop_t")
#endif

// ------------------------------------------------------------------ JSON output
std::string g_sep;  // "" before the first item of an object, "," after

void key(const std::string& k) {
  std::printf("%s\"%s\": ", g_sep.c_str(), k.c_str());
  g_sep = ",";
}
void open_object(const char* k) {
  key(k);
  std::printf("{");
  g_sep = "";
}
void close_object() {
  std::printf("}\n");
  g_sep = ",";
}
void string_item(const std::string& k, const std::string& v) {
  key(k);
  std::printf("\"%s\"", v.c_str());
}
void int_item(const std::string& k, long long v) {
  key(k);
  std::printf("%lld", v);
}

// a function as a JSON list: [return type, parameter types...]
template <class Fn>
struct Signature;
template <class R, class... A>
struct Signature<R(A...)> {
  static std::string get() {
    std::string s = "[\"" + Name<R>::get() + "\"";
    ((s += ", \"" + Name<A>::get() + "\""), ...);
    return s + "]";
  }
};
template <class Fn>
void function(const char* name) {
  key(name);
  std::printf("%s", Signature<Fn>::get().c_str());
}

// sizeof/alignof of a struct and, for each listed member that it has, offset, size and type
// (members that one release lacks, e.g. dfs_attr_t.da_hints before 2.4, are left out)
#define STRUCT_BEGIN(T)                 \
  open_object(#T);                      \
  int_item("sizeof", sizeof(T));        \
  int_item("alignof", alignof(T));      \
  open_object("fields");
#define STRUCT_END() \
  close_object();    \
  close_object();
#define MEMBER(T, f, TYPE_NAME)                                                            \
  [](auto* p) {                                                                            \
    using U = std::remove_pointer_t<decltype(p)>;                                          \
    if constexpr (requires { &U::f; }) {                                                   \
      open_object(#f);                                                                     \
      int_item("offset", offsetof(U, f));                                                  \
      int_item("size", sizeof(U::f));                                                      \
      string_item("type", TYPE_NAME);                                                      \
      close_object();                                                                      \
    }                                                                                      \
  }(static_cast<T*>(nullptr));
#define FIELD(T, f) MEMBER(T, f, Name<decltype(U::f)>::get())
#define OPAQUE_FIELD(T, f) MEMBER(T, f, "opaque")  // an unnamed struct type (ev_private)

void layouts() {
  open_object("layouts");
  STRUCT_BEGIN(daos_handle_t) FIELD(daos_handle_t, cookie) STRUCT_END()
  STRUCT_BEGIN(daos_obj_id_t) FIELD(daos_obj_id_t, lo) FIELD(daos_obj_id_t, hi) STRUCT_END()
  STRUCT_BEGIN(d_iov_t)
  FIELD(d_iov_t, iov_buf) FIELD(d_iov_t, iov_buf_len) FIELD(d_iov_t, iov_len)
  STRUCT_END()
  STRUCT_BEGIN(d_sg_list_t)
  FIELD(d_sg_list_t, sg_nr) FIELD(d_sg_list_t, sg_nr_out) FIELD(d_sg_list_t, sg_iovs)
  STRUCT_END()
  STRUCT_BEGIN(daos_anchor_t)
  FIELD(daos_anchor_t, da_type) FIELD(daos_anchor_t, da_shard) FIELD(daos_anchor_t, da_flags)
  FIELD(daos_anchor_t, da_sub_anchors) FIELD(daos_anchor_t, da_buf)
  STRUCT_END()
  STRUCT_BEGIN(daos_event_t)
  FIELD(daos_event_t, ev_error) OPAQUE_FIELD(daos_event_t, ev_private)
  FIELD(daos_event_t, ev_debug)
  STRUCT_END()
#if !defined(PROBE_OURS)
  STRUCT_BEGIN(dfs_attr_t)
  FIELD(dfs_attr_t, da_id) FIELD(dfs_attr_t, da_chunk_size) FIELD(dfs_attr_t, da_oclass_id)
  FIELD(dfs_attr_t, da_props) FIELD(dfs_attr_t, da_mode) FIELD(dfs_attr_t, da_dir_oclass_id)
  FIELD(dfs_attr_t, da_file_oclass_id) FIELD(dfs_attr_t, da_hints)
  STRUCT_END()
  STRUCT_BEGIN(dfs_obj_info_t)
  FIELD(dfs_obj_info_t, doi_oclass_id) FIELD(dfs_obj_info_t, doi_chunk_size)
  FIELD(dfs_obj_info_t, doi_dir_oclass_id) FIELD(dfs_obj_info_t, doi_file_oclass_id)
  FIELD(dfs_obj_info_t, doi_oid)
  STRUCT_END()
#endif
  close_object();
}

void functions() {
  open_object("functions");
#if defined(PROBE_OURS)
#define F(fn) function<std::remove_pointer_t<decltype(Api::fn)>>(#fn);
#else
#define F(fn) function<std::remove_pointer_t<decltype(&fn)>>(#fn);
#endif
#include "funcs.inc"
#undef F
  close_object();
}

// Constants under DAOS's names.  A macro that a release does not define is left out.
#define CONST(n) int_item(#n, static_cast<long long>(n));
void constants() {
  open_object("constants");
#if defined(PROBE_OURS)
  int_item("DAOS_ANCHOR_TYPE_EOF", kAnchorEof);
  int_item("DAOS_EQ_NOWAIT", kEqNoWait);
  int_item("DAOS_EQ_DESTROY_FORCE", kEqDestroyForce);
  int_item("DAOS_PC_RO", kPoolConnectRO);
  int_item("DAOS_PC_RW", kPoolConnectRW);
  int_item("DAOS_COO_RO", kContOpenRO);
  int_item("DAOS_COO_RW", kContOpenRW);
  int_item("DFS_MAX_FSIZE", static_cast<long long>(kMaxFileSize));
#else
  CONST(DAOS_ANCHOR_TYPE_ZERO) CONST(DAOS_ANCHOR_TYPE_HKEY) CONST(DAOS_ANCHOR_TYPE_KEY)
  CONST(DAOS_ANCHOR_TYPE_EOF)
#ifdef DAOS_ANCHOR_BUF_MAX
  CONST(DAOS_ANCHOR_BUF_MAX)
#endif
#ifdef DAOS_EQ_WAIT
  CONST(DAOS_EQ_WAIT)
#endif
#ifdef DAOS_EQ_NOWAIT
  CONST(DAOS_EQ_NOWAIT)
#endif
#ifdef DAOS_EQ_DESTROY_FORCE
  CONST(DAOS_EQ_DESTROY_FORCE)
#endif
#ifdef DAOS_PC_RO
  CONST(DAOS_PC_RO)
#endif
#ifdef DAOS_PC_RW
  CONST(DAOS_PC_RW)
#endif
#ifdef DAOS_PC_EX
  CONST(DAOS_PC_EX)
#endif
#ifdef DAOS_COO_RO
  CONST(DAOS_COO_RO)
#endif
#ifdef DAOS_COO_RW
  CONST(DAOS_COO_RW)
#endif
#ifdef DFS_MAX_NAME
  CONST(DFS_MAX_NAME)
#endif
#ifdef DFS_MAX_PATH
  CONST(DFS_MAX_PATH)
#endif
#ifdef DFS_MAX_FSIZE
  CONST(DFS_MAX_FSIZE)
#endif
#ifdef DFS_RDONLY
  CONST(DFS_RDONLY)
#endif
#ifdef DFS_RDWR
  CONST(DFS_RDWR)
#endif
#ifdef DFS_RELAXED
  CONST(DFS_RELAXED)
#endif
#ifdef DFS_BALANCED
  CONST(DFS_BALANCED)
#endif
#ifdef DFS_DEFAULT_CHUNK_SIZE
  CONST(DFS_DEFAULT_CHUNK_SIZE)
#endif
#ifdef DAOS_CONT_HINT_MAX_LEN
  CONST(DAOS_CONT_HINT_MAX_LEN)
#endif
#endif
  close_object();
}

// DER codes: name -> value (and, for ours, the errno we map it to)
void der_table() {
  open_object("der");
#if defined(PROBE_REAL)
#define DER_ITEM(name, ...) int_item(#name, name);
#define DER_RANGE(range, base) D_FOREACH_##range##_ERR(DER_ITEM)
  D_FOREACH_ERR_RANGE(DER_RANGE)
  int_item("DER_UNKNOWN", DER_UNKNOWN);
#elif defined(PROBE_FAKE)
#define D(name, value) int_item("DER_" #name, DER_##name);
#include "der.def"
#undef D
#else
  for (const auto& e : pdt::kDer) int_item(e.name, e.code);
#endif
  close_object();
#if defined(PROBE_OURS)
  // through the functions the backend calls, with DAOS's negative codes as they arrive
  open_object("der_errno");
  for (const auto& e : pdt::kDer) {
    int_item(e.name, pdt::der_to_errno(-e.code));
    if (std::string(pdt::der_name(-e.code) ? pdt::der_name(-e.code) : "") != e.name)
      int_item(std::string("der_name mismatch ") + e.name, e.code);
  }
  close_object();
#endif
}

}  // namespace

int main() {
  std::printf("{");
  layouts();
  functions();
  constants();
  der_table();
  std::printf("}\n");
  return 0;
}
