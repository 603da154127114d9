/*
 * Internal interface between the parts of the DAOS test double.
 * libdaos.so.2 = fake_common.c (state, env config, faults, counters, handles) + fake_pool.c
 *                + fake_events.c ;  libdfs.so = fake_store.c + fake_dfs_*.c (links libdaos.so.2).
 * The fake_* functions below are exported from libdaos.so.2 so that libdfs.so can use them (real
 * libdaos exports its internals too).
 */
#ifndef FAKE_INTERNAL_H
#define FAKE_INTERNAL_H

#include "daos_types.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* exported by libdaos.so.2 for libdfs.so */
#pragma GCC visibility push(default)

/* ---------------------------------------------------------------- counters (counters.def) */
enum fake_counter {
#define C(name) FC_##name,
#include "counters.def"
#undef C
	FC__COUNT
};
#define FAKE_COUNTERS_FILE  "counters"
#define FAKE_COUNTERS_BYTES 4096
_Static_assert(FC__COUNT * 8 <= FAKE_COUNTERS_BYTES, "too many counters");

void fake_count(enum fake_counter c, uint64_t n);
void fake_count_max(enum fake_counter c, uint64_t v);

/* ---------------------------------------------------------------- process state and gates */
/* Exit status of a simulated crash (FAKE_DAOS_CRASH_AT). */
#define FAKE_CRASH_EXIT 86

bool        fake_daos_is_init(void);
/* true in a child of fork() that has not called daos_reinit() yet */
bool        fake_forked_without_reinit(void);
/* incremented by every daos_reinit(); objects created under an older generation are stale */
uint64_t    fake_fork_gen(void);
/* incremented by every 0 -> 1 daos_init(); handles of an older generation are gone */
uint64_t    fake_init_gen(void);
const char *fake_store(void); /* FAKE_DAOS_STORE as read by the last daos_init() */

/*
 * Entry gate of a daos_* function: 0 or the negative DER to return (-DER_UNINIT before
 * daos_init, -DER_NO_HDL in a forked child without daos_reinit, -DER_BUSY in a child forked
 * while another thread was inside DAOS, an injected fault).  Sleeps the
 * configured latency of the op.
 */
int fake_daos_gate(const char *op);

/*
 * Entry gate of a dfs_* function: 0 or a positive errno (EBADF in a forked child without
 * daos_reinit, EDEADLK in a child forked while another thread was inside DAOS, a fault).  *short_read (optional) is set when the call is the one
 * chosen for a short read.  With latency_us != NULL the latency is returned instead of slept
 * (async ops complete after it); faults are returned either way.
 */
int fake_dfs_gate(const char *op, bool *short_read, uint64_t *latency_us);
/* faults and latency only (calls allowed in a forked child: dfs_init, dfs_global2local_all) */
int fake_dfs_gate_nofork(const char *op);

/*
 * Faults of the launch of an async dfs_read/dfs_write (FAKE_DAOS_FAULTS points "<op>_task" and
 * "dfs_read_params").  Returns a positive errno the call must return with the event untouched
 * (DAOS: dc_task_create failed), or 0; with *unqueued set the call must return 0 without
 * queueing anything: ev_error already holds the errno and the event stays READY, so no
 * daos_eq_poll ever returns it (DAOS 2.4+: dfs_read_int's allocation failure after the task
 * exists completes a never-launched event).
 */
int fake_launch_fault(const char *op, daos_event_t *ev, bool *unqueued);

/*
 * Calls in progress, for fork: a thread that sleeps an injected latency or waits inside
 * daos_eq_poll/daos_event_test/daos_eq_destroy is "inside DAOS" (on DAOS it would hold the
 * context's progress, an EQ lock, the handle-hash lock...).  enter returns a slot for leave.
 */
int         fake_inside_enter(const char *op);
void        fake_inside_leave(int slot);
/*
 * In a child forked while another thread was inside DAOS: the names of those calls (else
 * NULL).  Every DAOS call of such a child fails ("would deadlock on DAOS"), even after
 * daos_reinit, which resets neither the locks nor the network context that thread held.
 */
const char *fake_stuck_at_fork(void);

/* _exit(FAKE_CRASH_EXIT) if "point" (e.g. "move:after_insert") is in FAKE_DAOS_CRASH_AT */
void fake_crash_point(const char *point);

uint64_t fake_now_ns(void);
void     fake_sleep_us(uint64_t us);
int      fake_der2errno(int der); /* as daos_der2errno() of daos/common.h */
uint64_t fake_random64(void);

/* ---------------------------------------------------------------- handles */
enum fake_htype { FH_POOL = 1, FH_CONT = 2, FH_EQ = 3 };
uint64_t fake_hdl_new(int type, void *ptr); /* 0 when the table is full */
void    *fake_hdl_get(uint64_t cookie, int type);
void     fake_hdl_del(uint64_t cookie);

/* ---------------------------------------------------------------- pools and containers */
#define FAKE_UUID_LEN 37 /* with NUL */

/*
 * The server side of a handle: its id (the handle UUID of DAOS) and the connecting process.
 * The owner's disconnect (or close) removes STORE/hdls/<id>; a handle attached from the
 * owner's global form (global2local), or inherited through fork, is revoked with it, and when
 * the owner dies (daos_agent evicts a dead process's handles).
 */
#define FAKE_SID_LEN 33 /* 32 hex digits + NUL */
struct fake_sid {
	char  id[FAKE_SID_LEN];
	pid_t owner;
};

struct fake_pool {
	char            uuid[FAKE_UUID_LEN];
	char            dir[PATH_MAX]; /* STORE/pools/<uuid> */
	unsigned        flags;         /* DAOS_PC_* */
	bool            global;        /* made by global2local: does not count as a connection */
	pid_t           pid;    /* connecting process; any other process holds a "slave" copy */
	int             nconts; /* open container handles */
	struct fake_sid sid;
};

struct fake_cont {
	char          uuid[FAKE_UUID_LEN];
	char          dir[PATH_MAX]; /* STORE/pools/<p>/conts/<uuid> */
	daos_handle_t poh;
	unsigned      flags;  /* DAOS_COO_* */
	bool          global; /* made by global2local */
	bool          readonly_prop;
	uint32_t        dir_shards;
	daos_obj_id_t   root;
	pid_t           pid; /* opening process */
	struct fake_sid sid;
	int             nobjs; /* objects open through this handle (dfs_open, dfs_lookup, ...) */
};

struct fake_pool *fake_pool_get(daos_handle_t poh);
struct fake_cont *fake_cont_get(daos_handle_t coh);
/* Open without the entry gate (used by libdfs); "count" = add to pool_connect/cont_open */
int fake_pool_open(const char *pool, unsigned flags, bool global, daos_handle_t *poh);
int fake_pool_close(daos_handle_t poh);
int fake_cont_open(daos_handle_t poh, const char *cont, unsigned flags, bool global,
		   daos_handle_t *coh);
int fake_cont_close(daos_handle_t coh);
/* open from a global form: the server-side handle "sid" is shared, not a new connection */
int fake_pool_attach(const char *pool_uuid, unsigned flags, const struct fake_sid *sid,
		     daos_handle_t *poh);
int fake_cont_attach(daos_handle_t poh, const char *cont_uuid, unsigned flags,
		     const struct fake_sid *sid, daos_handle_t *coh);
/*
 * -DER_NO_HDL when the server no longer knows a handle that this process did not open itself
 * (attached or inherited): its owner disconnected or exited; 0 otherwise.
 */
int fake_handles_check(daos_handle_t poh, daos_handle_t coh);
/* an object opened (+1) or released (-1) through container handle coh */
void fake_cont_objects(daos_handle_t coh, int delta);

/* ---------------------------------------------------------------- async operations */
struct fake_op {
	struct fake_op *next, *prev;
	daos_event_t   *ev;
	uint64_t        ready_ns; /* not completed before this time (latency) */
	/* performs the operation at completion time; returns the value for ev_error */
	int (*exec)(struct fake_op *op);
	/* frees the op after completion or abort (NULL = free()) */
	void (*destroy)(struct fake_op *op);
	int  rc;       /* ev_error when exec == NULL */
	bool errno_rc; /* ev_error is a positive errno (dfs ops) rather than -DER */
};

/*
 * Queue "op" on the event's EQ (or on the EQ-less list).  0, or -DER_INVAL (event not
 * initialised), -DER_NO_PERM (event already in flight), -DER_NO_HDL (EQ from before a fork),
 * -DER_NONEXIST (EQ destroyed).  On error the op is not queued and still belongs to the caller.
 */
int fake_ev_launch(daos_event_t *ev, struct fake_op *op);
/* Queue a finished op with result rc (daos_* calls given an event) */
int fake_ev_complete_now(daos_event_t *ev, int rc);
/* Sets ev_error of an initialised event that is not in flight, without queueing anything */
void fake_ev_fail_unlaunched(daos_event_t *ev, int rc);

/* forget every EQ / event state (daos_fini to 0 and daos_reinit) */
void fake_events_reset(void);

#pragma GCC visibility pop

#endif /* FAKE_INTERNAL_H */
