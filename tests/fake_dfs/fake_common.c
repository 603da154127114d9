/*
 * libdaos.so.2 of the test double: library state (init refcount, fork detection), the
 * environment configuration (faults, latency, crash points), shared counters and the handle
 * table.  daos_init / daos_fini / daos_reinit / d_errstr live here too.
 */
#include "fake_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- library state */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int             g_refcount;
static pid_t           g_pid; /* process owning the state (last init / reinit); 0 = none */
static uint64_t        g_gen = 1;
static uint64_t        g_init_gen;
static char            g_store[PATH_MAX];

bool
fake_daos_is_init(void)
{
	return __atomic_load_n(&g_refcount, __ATOMIC_ACQUIRE) > 0;
}

bool
fake_forked_without_reinit(void)
{
	pid_t owner = __atomic_load_n(&g_pid, __ATOMIC_ACQUIRE);

	return owner != 0 && owner != getpid();
}

uint64_t
fake_fork_gen(void)
{
	return __atomic_load_n(&g_gen, __ATOMIC_ACQUIRE);
}

uint64_t
fake_init_gen(void)
{
	return __atomic_load_n(&g_init_gen, __ATOMIC_ACQUIRE);
}

const char *
fake_store(void)
{
	return g_store;
}

static int stuck_der(const char *op);
static int stuck_errno(const char *op);

/* ---------------------------------------------------------------- time, random */
uint64_t
fake_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
fake_sleep_us(uint64_t us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t
fake_random64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) == sizeof(v))
		return v;
	/* splitmix64 of time and pid */
	v = fake_now_ns() ^ ((uint64_t)getpid() << 32);
	v += 0x9e3779b97f4a7c15ull;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

/* ---------------------------------------------------------------- error tables */
static const struct {
	const char *name;
	int         value;
} der_names[] = {
#define D(name, value) {"DER_" #name, value},
#include "der.def"
#undef D
    {NULL, 0}};

static const struct {
	const char *name;
	int         value;
} errno_names[] = {
    {"EPERM", EPERM},       {"ENOENT", ENOENT},       {"ESRCH", ESRCH},
    {"EINTR", EINTR},       {"EIO", EIO},             {"ENXIO", ENXIO},
    {"E2BIG", E2BIG},       {"EBADF", EBADF},         {"EAGAIN", EAGAIN},
    {"ENOMEM", ENOMEM},     {"EACCES", EACCES},       {"EFAULT", EFAULT},
    {"EBUSY", EBUSY},       {"EEXIST", EEXIST},       {"EXDEV", EXDEV},
    {"ENOTDIR", ENOTDIR},   {"EISDIR", EISDIR},       {"EINVAL", EINVAL},
    {"ENFILE", ENFILE},     {"EMFILE", EMFILE},       {"EFBIG", EFBIG},
    {"ENOSPC", ENOSPC},     {"ESPIPE", ESPIPE},       {"EROFS", EROFS},
    {"EMLINK", EMLINK},     {"EPIPE", EPIPE},         {"ERANGE", ERANGE},
    {"EDEADLK", EDEADLK},   {"ENAMETOOLONG", ENAMETOOLONG},
    {"ENOSYS", ENOSYS},     {"ENOTEMPTY", ENOTEMPTY}, {"ELOOP", ELOOP},
    {"ENODATA", ENODATA},   {"ETIME", ETIME},         {"EPROTO", EPROTO},
    {"EOVERFLOW", EOVERFLOW}, {"EBADMSG", EBADMSG},   {"ENOBUFS", ENOBUFS},
    {"ETIMEDOUT", ETIMEDOUT}, {"ECONNREFUSED", ECONNREFUSED},
    {"EHOSTUNREACH", EHOSTUNREACH}, {"EALREADY", EALREADY},
    {"ESTALE", ESTALE},     {"EDQUOT", EDQUOT},       {"ECANCELED", ECANCELED},
    {"ENOTSUP", ENOTSUP},   {"EOPNOTSUPP", EOPNOTSUPP}, {"ERESTART", ERESTART},
    {"ECONNRESET", ECONNRESET}, {"ENOTCONN", ENOTCONN}, {"ESHUTDOWN", ESHUTDOWN},
    {NULL, 0}};

/* daos_der2errno() of src/include/daos/common.h, as the release (FAKE_DAOS_VERSION) had it:
 * DER_DOS -> ENOMEM from 2.6, DER_NOTSUPPORTED -> ENOTSUP from 2.6.4, DER_CONT_DESTROYING ->
 * EPERM from 2.8; EIO before */
int
fake_der2errno(int der)
{
	if (der >= 0)
		return der == 0 ? 0 : EINVAL;
	switch (-der) {
	case DER_NO_PERM:
	case DER_EP_RO:
	case DER_EP_OLD:
#if FAKE_DAOS_VERSION >= 20800
	case DER_CONT_DESTROYING:
#endif
		return EPERM;
	case DER_ENOENT:
	case DER_NONEXIST:
		return ENOENT;
	case DER_INVAL:
	case DER_NOTYPE:
	case DER_NOSCHEMA:
	case DER_NOLOCAL:
	case DER_NO_HDL:
	case DER_IO_INVAL:
		return EINVAL;
	case DER_KEY2BIG:
	case DER_REC2BIG:
		return E2BIG;
	case DER_EXIST:
		return EEXIST;
	case DER_UNREACH:
		return EHOSTUNREACH;
	case DER_NOSPACE:
		return ENOSPC;
	case DER_ALREADY:
		return EALREADY;
#if FAKE_DAOS_VERSION >= 20600
	case DER_DOS:
#endif
	case DER_NOMEM:
		return ENOMEM;
	case DER_TIMEDOUT:
		return ETIMEDOUT;
	case DER_BUSY:
	case DER_EQ_BUSY:
		return EBUSY;
	case DER_AGAIN:
		return EAGAIN;
	case DER_PROTO:
		return EPROTO;
	case DER_IO:
		return EIO;
	case DER_CANCELED:
		return ECANCELED;
	case DER_OVERFLOW:
		return EOVERFLOW;
	case DER_BADPATH:
	case DER_NOTDIR:
		return ENOTDIR;
	case DER_STALE:
		return ESTALE;
	case DER_TX_RESTART:
		return ERESTART;
#if FAKE_DAOS_VERSION >= 20604
	case DER_NOTSUPPORTED:
		return ENOTSUP;
#endif
	default:
		return EIO;
	}
}

/* daos_errno2der() of src/include/daos/common.h (ENOTSUP -> DER_NOTSUPPORTED from 2.6.4) */
static int
errno2der(int e)
{
	switch (e) {
	case 0:
		return 0;
	case EPERM:
	case EACCES:
		return -DER_NO_PERM;
	case ENOMEM:
		return -DER_NOMEM;
	case EDQUOT:
	case ENOSPC:
		return -DER_NOSPACE;
	case EEXIST:
		return -DER_EXIST;
	case ENOENT:
		return -DER_NONEXIST;
	case ECANCELED:
		return -DER_CANCELED;
	case EBUSY:
		return -DER_BUSY;
	case EOVERFLOW:
		return -DER_OVERFLOW;
	case EBADF:
		return -DER_NO_HDL;
	case ENOSYS:
		return -DER_NOSYS;
	case ETIMEDOUT:
		return -DER_TIMEDOUT;
	case EAGAIN:
		return -DER_AGAIN;
	case EPROTO:
		return -DER_PROTO;
	case EINVAL:
		return -DER_INVAL;
	case ENOTDIR:
		return -DER_NOTDIR;
	case EIO:
		return -DER_IO;
#if FAKE_DAOS_VERSION >= 20604
	case ENOTSUP:
		return -DER_NOTSUPPORTED;
#endif
	default:
		return -DER_MISC;
	}
}

#ifndef OMIT_d_errstr
const char *
d_errstr(int errnum)
{
	if (errnum == 0)
		return "DER_SUCCESS";
	if (errnum > 0)
		return "DER_UNKNOWN";
	for (int i = 0; der_names[i].name; i++)
		if (der_names[i].value == -errnum)
			return der_names[i].name;
	return "DER_UNKNOWN";
}
#endif

#ifndef OMIT_d_errdesc
const char *
d_errdesc(int errnum)
{
	if (errnum == 0)
		return "Success";
	if (errnum > 0)
		return "Unknown error code";
	if (-errnum == DER_AGENT_COMM)
		return "Agent communication error";
	if (-errnum == DER_NONEXIST)
		return "The specified entity does not exist";
	if (-errnum == DER_NO_PERM)
		return "Operation not permitted";
	return "DAOS error (test double)";
}
#endif

/* ---------------------------------------------------------------- configuration */
#define MAX_FAULTS  64
#define MAX_OPS     64
#define OPNAME_LEN  48
#define MAX_CRASH   16

struct fault {
	char     op[OPNAME_LEN];
	uint64_t nth;   /* 0 = every call */
	int      code;  /* positive errno (dfs_*) or negative DER (daos_*) */
	bool     short_read;
};

struct opcount {
	char     op[OPNAME_LEN];
	uint64_t calls;
};

struct latency {
	char     op[OPNAME_LEN];
	uint64_t us;
};

/* "point" or "point@N": _exit at the Nth time (default the first) the step is reached */
struct crash {
	char     point[OPNAME_LEN];
	uint64_t nth;
	uint64_t hits;
};

static struct {
	char           spec[4096]; /* FAULTS + "|" + SHORT_READ: counts survive re-init if equal */
	struct fault   faults[MAX_FAULTS];
	int            nfaults;
	struct opcount ops[MAX_OPS];
	int            nops;
	pid_t          count_pid; /* calls are counted per process */
	struct latency lat[MAX_OPS];
	int            nlat;
	char           crash_spec[1024]; /* FAKE_DAOS_CRASH_AT: hit counts survive re-init if equal */
	struct crash   crash[MAX_CRASH];
	int            ncrash;
	pid_t          crash_pid; /* hits are counted per process */
} cfg;

/* every function that checks FAKE_DAOS_FAULTS / FAKE_DAOS_LATENCY_US (a typo is an error) */
static const char *const fault_points[] = {
    "daos_init", "daos_fini", "daos_reinit", "daos_pool_connect2", "daos_pool_disconnect",
    "daos_cont_open2", "daos_cont_close", "daos_pool_local2global", "daos_pool_global2local",
    "daos_cont_local2global", "daos_cont_global2local", "daos_eq_create", "daos_eq_destroy", "daos_eq_poll",
    "daos_event_init", "daos_event_fini", "daos_event_test", "daos_event_abort", "dfs_init", "dfs_fini",
    "dfs_connect", "dfs_disconnect", "dfs_mount", "dfs_umount", "dfs_local2global",
    "dfs_global2local", "dfs_local2global_all",
    "dfs_global2local_all", "dfs_lookup", "dfs_lookup_rel", "dfs_open", "dfs_dup",
    "dfs_release", "dfs_read", "dfs_write", "dfs_get_size", "dfs_punch", "dfs_stat",
    "dfs_ostat", "dfs_readdir", "dfs_readdirplus", "dfs_obj_anchor_split",
    "dfs_obj_anchor_set", "dfs_mkdir", "dfs_remove", "dfs_move", "dfs_sync", NULL};

/* steps inside an async dfs_read/dfs_write launch (faults only, see fake_launch_fault) */
static const char *const launch_points[] = {"dfs_read_task", "dfs_write_task", "dfs_read_params",
					    NULL};

/* the steps of a non-DTX dfs_move (src/client/dfs/rename.c, dfs_move_internal), each one
 * reached right after that DAOS update completed (see fake_dfs_ns.c, move_plain) */
static const char *const crash_points[] = {"move:after_punch_target", "move:after_remove_target",
					   "move:after_insert", "move:after_remove_source", NULL};

static bool
in_list(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static int
cfg_error(const char *var, const char *what)
{
	fprintf(stderr, "fake DAOS: bad %s: %s\n", var, what);
	return -DER_INVAL;
}

static int
parse_code(const char *op, const char *s, int *code, bool *short_read)
{
	bool dfs = strncmp(op, "dfs_", 4) == 0;
	char *end;
	long  v;

	*short_read = false;
	if (strcmp(s, "short") == 0) {
		*short_read = true;
		*code       = 0;
		return 0;
	}
	if (strncmp(s, "DER_", 4) == 0) {
		for (int i = 0; der_names[i].name; i++) {
			if (strcmp(der_names[i].name, s) == 0) {
				*code = dfs ? fake_der2errno(-der_names[i].value) : -der_names[i].value;
				return 0;
			}
		}
		return -1;
	}
	if (s[0] == 'E') {
		for (int i = 0; errno_names[i].name; i++) {
			if (strcmp(errno_names[i].name, s) == 0) {
				*code = dfs ? errno_names[i].value : errno2der(errno_names[i].value);
				return 0;
			}
		}
		return -1;
	}
	errno = 0;
	v     = strtol(s, &end, 10);
	if (errno || *end || end == s || v == 0)
		return -1;
	if (dfs) /* a negative number is a DER, converted as libdfs would */
		*code = v < 0 ? fake_der2errno((int)v) : (int)v;
	else /* DER given with or without its sign; small positive numbers are errnos */
		*code = v < 0 ? (int)v : (v >= 1000 ? -(int)v : errno2der((int)v));
	return 0;
}

static int
add_fault(const char *op, const char *nth, const char *code, const char *var)
{
	struct fault *f;
	char         *end;

	if (cfg.nfaults >= MAX_FAULTS)
		return cfg_error(var, "too many faults");
	f = &cfg.faults[cfg.nfaults];
	if (!in_list(fault_points, op) && !in_list(launch_points, op))
		return cfg_error(var, op);
	strcpy(f->op, op);
	if (strcmp(nth, "*") == 0) {
		f->nth = 0;
	} else {
		errno  = 0;
		f->nth = strtoull(nth, &end, 10);
		if (errno || *end || end == nth || f->nth == 0)
			return cfg_error(var, nth);
	}
	if (parse_code(op, code, &f->code, &f->short_read) ||
	    (f->short_read && strcmp(op, "dfs_read") != 0))
		return cfg_error(var, code);
	cfg.nfaults++;
	/* register the op for call counting */
	for (int i = 0; i < cfg.nops; i++)
		if (strcmp(cfg.ops[i].op, op) == 0)
			return 0;
	if (cfg.nops >= MAX_OPS)
		return cfg_error(var, "too many ops");
	strcpy(cfg.ops[cfg.nops].op, op);
	cfg.ops[cfg.nops].calls = 0;
	cfg.nops++;
	return 0;
}

static int
parse_faults(const char *spec)
{
	char *copy = strdup(spec), *save = NULL;
	int   rc   = 0;

	for (char *tok = strtok_r(copy, ", ", &save); tok && rc == 0;
	     tok       = strtok_r(NULL, ", ", &save)) {
		char *c1 = strchr(tok, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c1 || !c2) {
			rc = cfg_error("FAKE_DAOS_FAULTS", tok);
			break;
		}
		*c1 = *c2 = '\0';
		rc        = add_fault(tok, c1 + 1, c2 + 1, "FAKE_DAOS_FAULTS");
	}
	free(copy);
	return rc;
}

static int
parse_latency(const char *spec)
{
	char *copy = strdup(spec), *save = NULL, *end;
	int   rc   = 0;

	cfg.nlat = 0;
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok || eq - tok >= OPNAME_LEN || cfg.nlat >= MAX_OPS) {
			rc = cfg_error("FAKE_DAOS_LATENCY_US", tok);
			break;
		}
		*eq = '\0';
		if (strcmp(tok, "*") != 0 && !in_list(fault_points, tok)) {
			rc = cfg_error("FAKE_DAOS_LATENCY_US", tok);
			break;
		}
		strcpy(cfg.lat[cfg.nlat].op, tok);
		errno                  = 0;
		cfg.lat[cfg.nlat].us = strtoull(eq + 1, &end, 10);
		if (errno || *end || end == eq + 1) {
			rc = cfg_error("FAKE_DAOS_LATENCY_US", eq + 1);
			break;
		}
		cfg.nlat++;
	}
	free(copy);
	return rc;
}

static int
add_crash(char *tok)
{
	struct crash *c;
	char         *at = strchr(tok, '@');
	char         *end;

	if (cfg.ncrash >= MAX_CRASH)
		return cfg_error("FAKE_DAOS_CRASH_AT", tok);
	c = &cfg.crash[cfg.ncrash];
	if (at) {
		*at    = '\0';
		errno  = 0;
		c->nth = strtoull(at + 1, &end, 10);
		if (errno || *end || end == at + 1 || c->nth == 0)
			return cfg_error("FAKE_DAOS_CRASH_AT", at + 1);
	} else {
		c->nth = 1;
	}
	if (!in_list(crash_points, tok))
		return cfg_error("FAKE_DAOS_CRASH_AT", tok);
	strcpy(c->point, tok);
	c->hits = 0;
	cfg.ncrash++;
	return 0;
}

static int
parse_crash(const char *spec)
{
	char *copy, *save = NULL;
	int   rc = 0;

	if (strcmp(spec, cfg.crash_spec) == 0)
		return 0; /* unchanged: keep counting hits */
	if (strlen(spec) >= sizeof(cfg.crash_spec))
		return cfg_error("FAKE_DAOS_CRASH_AT", spec);
	copy       = strdup(spec);
	cfg.ncrash = 0;
	for (char *tok = strtok_r(copy, ", ", &save); tok && rc == 0;
	     tok       = strtok_r(NULL, ", ", &save))
		rc = add_crash(tok);
	free(copy);
	if (rc)
		cfg.ncrash = 0;
	else
		strcpy(cfg.crash_spec, spec);
	cfg.crash_pid = getpid();
	return rc;
}

static const char *
env_or_empty(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

/* (re)read the environment; called on each 0 -> 1 daos_init() */
static int
load_config(void)
{
	const char *faults = env_or_empty("FAKE_DAOS_FAULTS");
	const char *shortr = env_or_empty("FAKE_DAOS_SHORT_READ");
	char        spec[sizeof(cfg.spec)];
	int         rc;

	snprintf(spec, sizeof(spec), "%s|%s", faults, shortr);
	if (strcmp(spec, cfg.spec) != 0) {
		/* a new fault spec: start counting calls again */
		memset(cfg.spec, 0, sizeof(cfg.spec));
		cfg.nfaults = cfg.nops = 0;
		rc                     = parse_faults(faults);
		if (rc == 0 && shortr[0])
			rc = add_fault("dfs_read", shortr, "short", "FAKE_DAOS_SHORT_READ");
		if (rc) {
			cfg.nfaults = cfg.nops = 0;
			return rc;
		}
		strcpy(cfg.spec, spec);
		cfg.count_pid = getpid();
	}
	rc = parse_latency(env_or_empty("FAKE_DAOS_LATENCY_US"));
	if (rc == 0)
		rc = parse_crash(env_or_empty("FAKE_DAOS_CRASH_AT"));
	return rc;
}

static int
fault_check(const char *op, bool *short_read)
{
	int      idx = -1;
	uint64_t n;

	if (short_read)
		*short_read = false;
	if (cfg.nops == 0)
		return 0;
	for (int i = 0; i < cfg.nops; i++) {
		if (strcmp(cfg.ops[i].op, op) == 0) {
			idx = i;
			break;
		}
	}
	if (idx < 0)
		return 0;
	if (cfg.count_pid != getpid()) {
		/* first counted call in this process (fork child): counts are per process */
		for (int i = 0; i < cfg.nops; i++)
			cfg.ops[i].calls = 0;
		cfg.count_pid = getpid();
	}
	n = __atomic_add_fetch(&cfg.ops[idx].calls, 1, __ATOMIC_ACQ_REL);
	for (int i = 0; i < cfg.nfaults; i++) {
		struct fault *f = &cfg.faults[i];

		if (strcmp(f->op, op) != 0 || (f->nth != 0 && f->nth != n))
			continue;
		if (f->short_read) {
			if (short_read) {
				*short_read = true;
				fake_count(FC_fault_injected, 1);
			}
			continue;
		}
		fake_count(FC_fault_injected, 1);
		return f->code;
	}
	return 0;
}

static uint64_t
latency_of(const char *op)
{
	uint64_t star = 0;

	for (int i = 0; i < cfg.nlat; i++) {
		if (strcmp(cfg.lat[i].op, op) == 0)
			return cfg.lat[i].us;
		if (strcmp(cfg.lat[i].op, "*") == 0)
			star = cfg.lat[i].us;
	}
	return star;
}

void
fake_crash_point(const char *point)
{
	if (cfg.ncrash && cfg.crash_pid != getpid()) { /* a fork child counts its own hits */
		for (int i = 0; i < cfg.ncrash; i++)
			cfg.crash[i].hits = 0;
		cfg.crash_pid = getpid();
	}
	for (int i = 0; i < cfg.ncrash; i++) {
		struct crash *c = &cfg.crash[i];

		if (strcmp(c->point, point) != 0)
			continue;
		if (__atomic_add_fetch(&c->hits, 1, __ATOMIC_ACQ_REL) != c->nth)
			continue;
		fprintf(stderr, "fake DAOS: simulated crash at %s@%llu (pid %d)\n", point,
			(unsigned long long)c->nth, (int)getpid());
		_exit(FAKE_CRASH_EXIT);
	}
}

/* an injected latency is time spent inside DAOS (waiting for the network) */
static void
sleep_inside(const char *op, uint64_t us)
{
	int slot = fake_inside_enter(op);

	fake_sleep_us(us);
	fake_inside_leave(slot);
}

int
fake_daos_gate(const char *op)
{
	uint64_t lat;
	int      rc;

	if (!fake_daos_is_init())
		return -DER_UNINIT;
	rc = stuck_der(op);
	if (rc)
		return rc;
	if (fake_forked_without_reinit())
		return -DER_NO_HDL;
	rc  = fault_check(op, NULL);
	lat = latency_of(op);
	if (lat)
		sleep_inside(op, lat);
	return rc;
}

int
fake_dfs_gate_nofork(const char *op)
{
	uint64_t lat;
	int      rc = stuck_errno(op);

	if (rc)
		return rc;
	lat = latency_of(op);
	rc  = fault_check(op, NULL);
	if (lat)
		sleep_inside(op, lat);
	return rc;
}

int
fake_dfs_gate(const char *op, bool *short_read, uint64_t *latency_us)
{
	uint64_t lat;
	int      rc;

	if (short_read)
		*short_read = false;
	if (latency_us)
		*latency_us = 0;
	rc = stuck_errno(op);
	if (rc)
		return rc;
	if (fake_forked_without_reinit())
		return EBADF;
	rc  = fault_check(op, short_read);
	lat = latency_of(op);
	if (latency_us)
		*latency_us = lat;
	else if (lat)
		sleep_inside(op, lat);
	return rc;
}

int
fake_launch_fault(const char *op, daos_event_t *ev, bool *unqueued)
{
	char point[OPNAME_LEN];
	int  rc;

	*unqueued = false;
	snprintf(point, sizeof(point), "%s_task", op);
	rc = fault_check(point, NULL);
	if (rc) /* dc_task_create failed: the call fails, the event is not launched */
		return rc;
	if (strcmp(op, "dfs_read") != 0)
		return 0;
	rc = fault_check("dfs_read_params", NULL);
	if (rc) { /* dfs_read_int: tse_task_complete() on a task never scheduled, return 0 */
		fake_ev_fail_unlaunched(ev, rc);
		*unqueued = true;
	}
	return 0;
}

/* ---------------------------------------------------------------- counters */
static uint64_t  g_private_counters[FAKE_COUNTERS_BYTES / 8];
static uint64_t *g_counters = g_private_counters;
static char      g_counters_path[PATH_MAX];

static void
map_counters(void)
{
	char        path[PATH_MAX];
	struct stat st;
	int         fd;
	void       *p;

	if (snprintf(path, sizeof(path), "%s/%s", g_store, FAKE_COUNTERS_FILE) >= (int)sizeof(path))
		return;
	if (g_counters != g_private_counters && strcmp(path, g_counters_path) == 0)
		return; /* already mapped */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		goto private;
	if (fstat(fd, &st) != 0 ||
	    (st.st_size < FAKE_COUNTERS_BYTES && ftruncate(fd, FAKE_COUNTERS_BYTES) != 0)) {
		close(fd);
		goto private;
	}
	p = mmap(NULL, FAKE_COUNTERS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		goto private;
	if (g_counters != g_private_counters)
		munmap(g_counters, FAKE_COUNTERS_BYTES);
	g_counters = p;
	strcpy(g_counters_path, path);
	return;
private:
	fprintf(stderr, "fake DAOS: cannot map %s, counters are process-private\n", path);
}

void
fake_count(enum fake_counter c, uint64_t n)
{
	__atomic_fetch_add(&g_counters[c], n, __ATOMIC_RELAXED);
}

void
fake_count_max(enum fake_counter c, uint64_t v)
{
	uint64_t cur = __atomic_load_n(&g_counters[c], __ATOMIC_RELAXED);

	while (cur < v &&
	       !__atomic_compare_exchange_n(&g_counters[c], &cur, v, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* ---------------------------------------------------------------- handles */
#define HDL_SLOTS 4096
static struct {
	uint64_t cookie;
	int      type;
	void    *ptr;
} g_hdl[HDL_SLOTS];
static uint64_t        g_hdl_serial;
static pthread_mutex_t g_hdl_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t
fake_hdl_new(int type, void *ptr)
{
	uint64_t cookie = 0;

	pthread_mutex_lock(&g_hdl_lock);
	for (int i = 0; i < HDL_SLOTS; i++) {
		if (g_hdl[i].cookie == 0) {
			cookie          = (++g_hdl_serial << 12) | (uint64_t)i;
			g_hdl[i].cookie = cookie;
			g_hdl[i].type   = type;
			g_hdl[i].ptr    = ptr;
			break;
		}
	}
	pthread_mutex_unlock(&g_hdl_lock);
	return cookie;
}

void *
fake_hdl_get(uint64_t cookie, int type)
{
	unsigned slot = (unsigned)(cookie & (HDL_SLOTS - 1));
	void    *ptr  = NULL;

	if (cookie == 0)
		return NULL;
	pthread_mutex_lock(&g_hdl_lock);
	if (g_hdl[slot].cookie == cookie && g_hdl[slot].type == type)
		ptr = g_hdl[slot].ptr;
	pthread_mutex_unlock(&g_hdl_lock);
	return ptr;
}

void
fake_hdl_del(uint64_t cookie)
{
	unsigned slot = (unsigned)(cookie & (HDL_SLOTS - 1));

	pthread_mutex_lock(&g_hdl_lock);
	if (g_hdl[slot].cookie == cookie)
		memset(&g_hdl[slot], 0, sizeof(g_hdl[slot]));
	pthread_mutex_unlock(&g_hdl_lock);
}

/* drop every handle (daos_fini to 0); the objects are leaked on purpose (test double) */
static void
hdl_reset(void)
{
	pthread_mutex_lock(&g_hdl_lock);
	memset(g_hdl, 0, sizeof(g_hdl));
	pthread_mutex_unlock(&g_hdl_lock);
}

/* ---------------------------------------------------------------- calls in progress at fork */
#define INSIDE_SLOTS 256
static const char *g_inside[INSIDE_SLOTS]; /* op of each thread inside DAOS; NULL = free */
static char        g_stuck[512];           /* child: what other threads were doing at fork */

int
fake_inside_enter(const char *op)
{
	for (int i = 0; i < INSIDE_SLOTS; i++) {
		const char *none = NULL;

		if (__atomic_compare_exchange_n(&g_inside[i], &none, op, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return i;
	}
	return -1; /* more threads than slots: not tracked */
}

void
fake_inside_leave(int slot)
{
	if (slot >= 0)
		__atomic_store_n(&g_inside[slot], NULL, __ATOMIC_RELEASE);
}

const char *
fake_stuck_at_fork(void)
{
	return g_stuck[0] ? g_stuck : NULL;
}

/*
 * Child of fork: the memory is the parent's at the instant of fork, so the slots still name
 * the calls other threads were inside.  Those threads do not exist here; on DAOS the locks
 * they held stay locked forever.  The double's own bookkeeping locks are re-initialised
 * (they are not DAOS's: a DAOS lock held at fork is modelled by g_stuck alone).
 */
static void
child_after_fork(void)
{
	for (int i = 0; i < INSIDE_SLOTS; i++) {
		bool seen = false;
		size_t len = strlen(g_stuck);

		for (int j = 0; j < i && g_inside[i] && !seen; j++)
			seen = g_inside[j] && strcmp(g_inside[j], g_inside[i]) == 0;
		if (g_inside[i] && !seen)
			snprintf(g_stuck + len, sizeof(g_stuck) - len, "%s%s", len ? ", " : "",
				 g_inside[i]);
	}
	memset(g_inside, 0, sizeof(g_inside));
	pthread_mutex_init(&g_lock, NULL);
	pthread_mutex_init(&g_hdl_lock, NULL);
}

__attribute__((constructor)) static void
register_fork_handler(void)
{
	pthread_atfork(NULL, NULL, child_after_fork);
}

/* the error a call of a stuck child returns instead of hanging; says why once per process */
static void
stuck_report(const char *op)
{
	static bool said;

	if (!__atomic_exchange_n(&said, true, __ATOMIC_ACQ_REL))
		fprintf(stderr,
			"fake DAOS: %s would deadlock on DAOS: process %d was forked while another "
			"thread was inside %s; the locks and the network context that thread held "
			"are never released in the child, and daos_reinit does not reset them\n",
			op, (int)getpid(), g_stuck);
}

static int
stuck_der(const char *op)
{
	if (!fake_stuck_at_fork())
		return 0;
	stuck_report(op);
	return -DER_BUSY;
}

static int
stuck_errno(const char *op)
{
	if (!fake_stuck_at_fork())
		return 0;
	stuck_report(op);
	return EDEADLK;
}

/* ---------------------------------------------------------------- daos_init & co */
#ifndef OMIT_daos_init
int
daos_init(void)
{
	const char *store;
	struct stat st;
	int         rc = stuck_der("daos_init");

	if (rc)
		return rc;
	pthread_mutex_lock(&g_lock);
	if (g_refcount > 0) {
		/* already initialised (possibly inherited through fork) */
		rc = fault_check("daos_init", NULL);
		if (rc == 0) {
			g_refcount++;
			fake_count(FC_init, 1);
		}
		goto out;
	}
	store = getenv("FAKE_DAOS_STORE");
	if (store == NULL || store[0] == '\0' || stat(store, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    strcmp(env_or_empty("FAKE_DAOS_AGENT"), "down") == 0 ||
	    strlen(store) >= sizeof(g_store) - 64) {
		rc = -DER_AGENT_COMM; /* no agent to talk to */
		goto out;
	}
	snprintf(g_store, sizeof(g_store), "%s", store);
	rc = load_config();
	if (rc)
		goto out;
	rc = fault_check("daos_init", NULL);
	if (rc)
		goto out;
	map_counters();
	fake_events_reset();
	g_refcount = 1;
	__atomic_add_fetch(&g_init_gen, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&g_pid, getpid(), __ATOMIC_RELEASE);
	fake_count(FC_init, 1);
out:
	pthread_mutex_unlock(&g_lock);
	return rc;
}
#endif

#ifndef OMIT_daos_fini
int
daos_fini(void)
{
	int rc = stuck_der("daos_fini");

	if (rc)
		return rc;
	pthread_mutex_lock(&g_lock);
	if (g_refcount == 0) {
		rc = -DER_UNINIT;
		goto out;
	}
	if (fake_forked_without_reinit()) {
		rc = -DER_NO_HDL; /* inherited state: daos_reinit() first */
		goto out;
	}
	rc = fault_check("daos_fini", NULL);
	if (rc)
		goto out;
	if (--g_refcount == 0) {
		fake_events_reset();
		hdl_reset();
		__atomic_store_n(&g_pid, 0, __ATOMIC_RELEASE);
	}
out:
	pthread_mutex_unlock(&g_lock);
	return rc;
}
#endif

#ifndef OMIT_daos_reinit
int
daos_reinit(void)
{
	/*
	 * DAOS (init.c daos_reinit -> event.c daos_eq_lib_reset_after_fork): new logging, network
	 * configuration and EQ library (global CaRT context), inherited pool/container handles
	 * marked "slave".  It resets no lock and no context another thread of the parent held.
	 */
	int rc = stuck_der("daos_reinit");

	if (rc)
		return rc;
	pthread_mutex_lock(&g_lock);
	if (g_refcount == 0) {
		rc = -DER_UNINIT;
		goto out;
	}
	rc = fault_check("daos_reinit", NULL);
	if (rc)
		goto out;
	__atomic_add_fetch(&g_gen, 1, __ATOMIC_ACQ_REL); /* EQs of before are stale */
	fake_events_reset();
	__atomic_store_n(&g_pid, getpid(), __ATOMIC_RELEASE);
	fake_count(FC_reinit, 1);
out:
	pthread_mutex_unlock(&g_lock);
	return rc;
}
#endif
