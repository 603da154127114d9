#include "errors.h"

#include <cerrno>
#include <cstring>

namespace pdt {
namespace {

std::string format(int err, int der, const ErrorContext& c, const std::string& detail) {
  std::string m = c.op.empty() ? std::string("storage") : c.op;
  if (!c.pool.empty() || !c.container.empty())
    m += " [pool '" + c.pool + "', container '" + c.container + "']";
  if (!c.path.empty()) m += " '" + c.path + "'";
  m += ": ";
  m += detail.empty() ? describe_errno(err) : detail;
  if (der) {
    const char* n = der_name(der);
    m += " (" + std::string(n ? n : "DER_UNKNOWN") + " -" + std::to_string(der) + ")";
  } else if (!detail.empty()) {
    m += " (" + describe_errno(err) + ")";
  }
  return m;
}

struct DerEntry { int code; const char* name; int err; };

// Values from DAOS's daos_errno.h (stable, append-only since 2.0); errno per daos_der2errno().
constexpr DerEntry kDer[] = {
    {1001, "DER_NO_PERM", EPERM}, {1002, "DER_NO_HDL", EINVAL}, {1003, "DER_INVAL", EINVAL},
    {1004, "DER_EXIST", EEXIST}, {1005, "DER_NONEXIST", ENOENT}, {1006, "DER_UNREACH", EHOSTUNREACH},
    {1007, "DER_NOSPACE", ENOSPC}, {1008, "DER_ALREADY", EALREADY}, {1009, "DER_NOMEM", ENOMEM},
    {1010, "DER_NOSYS", EIO}, {1011, "DER_TIMEDOUT", ETIMEDOUT}, {1012, "DER_BUSY", EBUSY},
    {1013, "DER_AGAIN", EAGAIN}, {1014, "DER_PROTO", EPROTO}, {1015, "DER_UNINIT", EIO},
    {1016, "DER_TRUNC", EIO}, {1017, "DER_OVERFLOW", EOVERFLOW}, {1018, "DER_CANCELED", ECANCELED},
    {1019, "DER_OOG", EIO}, {1020, "DER_HG", EIO}, {1021, "DER_UNREG", EIO},
    {1022, "DER_ADDRSTR_GEN", EIO}, {1023, "DER_PMIX", EIO}, {1024, "DER_IVCB_FORWARD", EIO},
    {1025, "DER_MISC", EIO}, {1026, "DER_BADPATH", ENOTDIR}, {1027, "DER_NOTDIR", ENOTDIR},
    {1028, "DER_CORPC_INCOMPLETE", EIO}, {1029, "DER_NO_RAS_RANK", EIO}, {1030, "DER_NOTATTACH", EIO},
    {1031, "DER_MISMATCH", EIO}, {1032, "DER_EXCLUDED", EIO}, {1033, "DER_NOREPLY", EIO},
    {1034, "DER_DOS", ENOMEM}, {1035, "DER_BAD_TARGET", EIO}, {1036, "DER_GRPVER", EIO},
    {1037, "DER_HLC_SYNC", EIO}, {1038, "DER_NO_SHMEM", EIO}, {1039, "DER_ADD_METRIC_FAILED", EIO},
    {1040, "DER_DURATION_MISMATCH", EIO}, {1041, "DER_OP_NOT_PERMITTED", EIO},
    {1042, "DER_EXCEEDS_PATH_LEN", EIO}, {1043, "DER_METRIC_NOT_FOUND", EIO},
    {1044, "DER_SHMEM_PERMS", EIO}, {1045, "DER_HG_FATAL", EIO}, {1046, "DER_QUOTA_LIMIT", EIO},
    {2001, "DER_IO", EIO}, {2002, "DER_FREE_MEM", EIO}, {2003, "DER_ENOENT", ENOENT},
    {2004, "DER_NOTYPE", EINVAL}, {2005, "DER_NOSCHEMA", EINVAL}, {2006, "DER_NOLOCAL", EINVAL},
    {2007, "DER_STALE", ESTALE}, {2008, "DER_NOTLEADER", EIO}, {2009, "DER_TGT_CREATE", EIO},
    {2010, "DER_EP_RO", EPERM}, {2011, "DER_EP_OLD", EPERM}, {2012, "DER_KEY2BIG", E2BIG},
    {2013, "DER_REC2BIG", E2BIG}, {2014, "DER_IO_INVAL", EINVAL}, {2015, "DER_EQ_BUSY", EBUSY},
    {2016, "DER_DOMAIN", EIO}, {2017, "DER_SHUTDOWN", EIO}, {2018, "DER_INPROGRESS", EIO},
    {2019, "DER_NOTAPPLICABLE", EIO}, {2020, "DER_NOTREPLICA", EIO}, {2021, "DER_CSUM", EIO},
    {2022, "DER_DF_INVAL", EIO}, {2023, "DER_DF_INCOMPT", EIO}, {2024, "DER_REC_SIZE", EIO},
    {2025, "DER_TX_RESTART", ERESTART}, {2026, "DER_DATA_LOSS", EIO}, {2027, "DER_OP_CANCELED", EIO},
    {2028, "DER_TX_BUSY", EIO}, {2029, "DER_AGENT_INCOMPAT", EIO}, {2030, "DER_NEED_TX", EIO},
    {2031, "DER_RF", EIO}, {2032, "DER_FETCH_AGAIN", EIO}, {2033, "DER_TX_UNCERTAIN", EIO},
    {2034, "DER_AGENT_COMM", EIO}, {2035, "DER_ID_MISMATCH", EIO}, {2036, "DER_TGT_RETRY", EIO},
    {2037, "DER_NOTSUPPORTED", ENOTSUP}, {2038, "DER_CONTROL_INCOMPAT", EIO},
    {2039, "DER_NO_SERVICE", EIO}, {2040, "DER_TX_ID_REUSED", EIO}, {2041, "DER_UPDATE_AGAIN", EIO},
    {2042, "DER_NVME_IO", EIO}, {2043, "DER_NO_CERT", EIO}, {2044, "DER_BAD_CERT", EIO},
    {2045, "DER_VOS_PARTIAL_UPDATE", EIO}, {2046, "DER_CHKPT_BUSY", EIO},
    {2047, "DER_DIV_BY_ZERO", EIO}, {2048, "DER_OVERLOAD_RETRY", EIO}, {2049, "DER_NOT_RESUME", EIO},
    {2050, "DER_CONT_NONEXIST", EIO}, {2051, "DER_CONT_DESTROYING", EPERM},
    {2052, "DER_IGNORE", EIO}, {501000, "DER_UNKNOWN", EIO},
};

const DerEntry* find_der(int der) {
  if (der < 0) der = -der;
  for (const auto& e : kDer)
    if (e.code == der) return &e;
  return nullptr;
}

}  // namespace

StorageError::StorageError(int err, int der, ErrorContext ctx, std::string detail)
    : std::runtime_error(format(err, der, ctx, detail)),
      err_(err),
      der_(der < 0 ? -der : der),
      ctx_(std::move(ctx)),
      detail_(std::move(detail)) {}

const char* der_name(int der) {
  const DerEntry* e = find_der(der);
  return e ? e->name : nullptr;
}

int der_to_errno(int der) {
  const DerEntry* e = find_der(der);
  return e ? e->err : EIO;
}

std::string describe_errno(int err) {
  char buf[256];
  // GNU strerror_r may return a static string instead of filling buf.
  const char* s = strerror_r(err, buf, sizeof buf);
  return s ? s : "unknown error";
}

void throw_errno(int err, const ErrorContext& ctx, const std::string& detail) {
  throw StorageError(err, 0, ctx, detail);
}

void throw_der(int der, const ErrorContext& ctx, const std::string& detail) {
  if (der < 0) der = -der;
  throw StorageError(der_to_errno(der), der, ctx, detail);
}

void FirstError::record(std::exception_ptr e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!first_) first_ = e;
  else ++others_;
  failed_.store(true, std::memory_order_relaxed);
}

void FirstError::rethrow() {
  std::lock_guard<std::mutex> lock(mu_);
  if (others_ > 0) {
    try {
      std::rethrow_exception(first_);
    } catch (const StorageError& e) {
      throw StorageError(e.err(), e.der(), e.context(),
                         (e.detail().empty() ? describe_errno(e.err()) : e.detail()) + "; " +
                             std::to_string(others_) + " more I/O(s) in the batch failed");
    }
  }
  std::rethrow_exception(first_);
}

}  // namespace pdt
