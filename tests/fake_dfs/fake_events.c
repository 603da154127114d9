/*
 * Event queues and events of the test double (part of libdaos.so.2).
 *
 * An async operation is only *queued* when it is launched; it is performed, and its event
 * completed, inside daos_eq_poll() or daos_event_test() -- never earlier -- so a client that
 * looks at a read buffer before completion sees nothing.  A poll completes the ready operations
 * in a random order (at most n of them); an operation with latency is not ready before its
 * ready_ns.  Waiting uses a condition variable (no busy loop).
 *
 * As in DAOS (src/client/api/event.c), nothing cancels an operation once launched:
 * daos_event_abort is a no-op on a running event, a failed daos_eq_poll leaves every event in
 * flight (they complete at a later poll), and a forced daos_eq_destroy first performs every
 * operation still in flight (crt_context_flush), so a buffer is still written after the caller
 * gave up on it.
 */
#include "fake_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVX_MAGIC 0x31565845454b4146ull /* "FAKEEXV1" */

/* DAOS's daos_ev_status_t: READY again once polled out; COMPLETED = completed, never polled */
enum { EVS_READY = 1, EVS_RUNNING = 2, EVS_COMPLETED = 3 };

/* what the double keeps in daos_event_t::ev_private (160 bytes) */
struct evx {
	uint64_t        magic;
	uint64_t        eqh; /* cookie; 0 = event without EQ */
	uint32_t        status;
	uint32_t        pad;
	struct fake_op *op;
};
_Static_assert(sizeof(struct evx) <= sizeof(((daos_event_t *)0)->ev_private), "evx too big");

struct eq {
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	struct fake_op  head; /* ring of in-flight ops */
	uint32_t        ninflight;
	uint64_t        gen;        /* fork generation at creation */
	bool            finalizing; /* a forced destroy is flushing it: no launch, no poll */
};

static struct eq g_noeq; /* in-flight ops of events without an EQ */

static struct evx *
ev2evx(daos_event_t *ev)
{
	return (struct evx *)(void *)&ev->ev_private;
}

static void
eq_init(struct eq *eq)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&eq->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&eq->cond, &attr);
	pthread_condattr_destroy(&attr);
	eq->head.next = eq->head.prev = &eq->head;
	eq->ninflight                 = 0;
	eq->gen                       = fake_fork_gen();
	eq->finalizing                = false;
}

void
fake_events_reset(void)
{
	/* ops still queued on the EQ-less list are dropped (their events stay "running") */
	eq_init(&g_noeq);
}

/* 0 and *out, or -DER_NO_HDL (EQ of before a fork) / -DER_NONEXIST (unknown or destroyed) */
static int
eq_lookup(uint64_t cookie, struct eq **out)
{
	struct eq *eq;

	if (cookie == 0) {
		*out = &g_noeq;
		return 0;
	}
	eq = fake_hdl_get(cookie, FH_EQ);
	if (eq == NULL)
		return -DER_NONEXIST;
	if (eq->gen != fake_fork_gen())
		return -DER_NO_HDL;
	*out = eq;
	return 0;
}

static void
op_unlink(struct eq *eq, struct fake_op *op)
{
	op->prev->next = op->next;
	op->next->prev = op->prev;
	op->next = op->prev = NULL;
	eq->ninflight--;
	/* the event stays "running" until op_complete(); nobody else may take the op now */
	ev2evx(op->ev)->op = NULL;
}

static void
op_destroy(struct fake_op *op)
{
	if (op->destroy)
		op->destroy(op);
	else
		free(op);
}

/* perform a dequeued op and complete its event (status READY if polled out now) */
static void
op_complete(struct fake_op *op, uint32_t status)
{
	daos_event_t *ev = op->ev;
	int           rc = op->exec ? op->exec(op) : op->rc;

	ev->ev_error = rc;
	__atomic_store_n(&ev2evx(ev)->status, status, __ATOMIC_RELEASE);
	op_destroy(op);
}

static void
abs_deadline(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec  = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
}

/* wait on eq->cond (locked) until "until_ns" at the latest */
static void
eq_wait(struct eq *eq, uint64_t until_ns)
{
	struct timespec ts;

	abs_deadline(until_ns, &ts);
	pthread_cond_timedwait(&eq->cond, &eq->lock, &ts);
}

/* earliest ready time of the in-flight ops (UINT64_MAX if none) */
static uint64_t
eq_next_ready(struct eq *eq)
{
	uint64_t t = UINT64_MAX;

	for (struct fake_op *op = eq->head.next; op != &eq->head; op = op->next)
		if (op->ready_ns < t)
			t = op->ready_ns;
	return t;
}

static uint64_t
deadline_of(int64_t timeout_us)
{
	if (timeout_us < 0)
		return UINT64_MAX / 2;
	return fake_now_ns() + (uint64_t)timeout_us * 1000ull;
}

/* ---------------------------------------------------------------- internal API */
int
fake_ev_launch(daos_event_t *ev, struct fake_op *op)
{
	struct evx *evx;
	struct eq  *eq;
	int         rc;

	if (ev == NULL || op == NULL)
		return -DER_INVAL;
	evx = ev2evx(ev);
	if (evx->magic != EVX_MAGIC)
		return -DER_INVAL;
	rc = eq_lookup(evx->eqh, &eq);
	if (rc)
		return rc;
	pthread_mutex_lock(&eq->lock);
	if (evx->status != EVS_READY) {
		pthread_mutex_unlock(&eq->lock);
		return -DER_NO_PERM;
	}
	if (eq->finalizing) { /* daos_event_launch: "Event queue is in progress of finalizing" */
		pthread_mutex_unlock(&eq->lock);
		return -DER_NONEXIST;
	}
	op->ev         = ev;
	op->next       = &eq->head;
	op->prev       = eq->head.prev;
	op->prev->next = op;
	eq->head.prev  = op;
	eq->ninflight++;
	ev->ev_error = 0;
	evx->op      = op;
	evx->status  = EVS_RUNNING;
	if (eq != &g_noeq)
		fake_count_max(FC_max_inflight, eq->ninflight);
	pthread_cond_broadcast(&eq->cond);
	pthread_mutex_unlock(&eq->lock);
	return 0;
}

int
fake_ev_complete_now(daos_event_t *ev, int rc)
{
	struct fake_op *op = calloc(1, sizeof(*op));
	int             lrc;

	if (op == NULL)
		return -DER_NOMEM;
	op->rc = rc;
	lrc    = fake_ev_launch(ev, op);
	if (lrc)
		free(op);
	return lrc;
}

void
fake_ev_fail_unlaunched(daos_event_t *ev, int rc)
{
	/* daos_event_complete on a READY event only sets ev_error (event.c) */
	if (ev && ev2evx(ev)->magic == EVX_MAGIC && ev2evx(ev)->status == EVS_READY)
		ev->ev_error = rc;
}

/*
 * Forced destroy (event.c daos_eq_destroy): crt_context_flush(ctx, 0) progresses until no RPC
 * is in flight, so every queued op is performed (after its latency) and its event completed;
 * the events are then unlinked but stay COMPLETED (never polled out).  eq->lock is held.
 */
static void
eq_flush_locked(struct eq *eq)
{
	while (eq->head.next != &eq->head) {
		struct fake_op *op = eq->head.next;
		uint64_t        now = fake_now_ns();

		for (; op != &eq->head && op->ready_ns > now; op = op->next)
			;
		if (op == &eq->head) {
			eq_wait(eq, eq_next_ready(eq));
			continue;
		}
		op_unlink(eq, op);
		pthread_mutex_unlock(&eq->lock);
		op_complete(op, EVS_COMPLETED);
		pthread_mutex_lock(&eq->lock);
	}
}

/* ---------------------------------------------------------------- public API */
#ifndef OMIT_daos_eq_create
int
daos_eq_create(daos_handle_t *eqh)
{
	struct eq *eq;
	int        rc = fake_daos_gate("daos_eq_create");

	if (rc)
		return rc;
	if (eqh == NULL)
		return -DER_INVAL;
	eq = calloc(1, sizeof(*eq));
	if (eq == NULL)
		return -DER_NOMEM;
	eq_init(eq);
	eqh->cookie = fake_hdl_new(FH_EQ, eq);
	if (eqh->cookie == 0) {
		free(eq);
		return -DER_NOMEM;
	}
	fake_count(FC_eq_create, 1);
	return 0;
}
#endif

#ifndef OMIT_daos_eq_destroy
int
daos_eq_destroy(daos_handle_t eqh, int flags)
{
	struct eq *eq;
	int        slot;
	int        rc = fake_daos_gate("daos_eq_destroy");

	if (rc)
		return rc;
	if (eqh.cookie == 0)
		return -DER_NONEXIST;
	rc = eq_lookup(eqh.cookie, &eq);
	if (rc)
		return rc;
	pthread_mutex_lock(&eq->lock);
	if (eq->finalizing) {
		pthread_mutex_unlock(&eq->lock);
		return -DER_NONEXIST;
	}
	if (eq->ninflight > 0 && !(flags & DAOS_EQ_DESTROY_FORCE)) {
		pthread_mutex_unlock(&eq->lock);
		return -DER_BUSY;
	}
	eq->finalizing = true;
	slot           = fake_inside_enter("daos_eq_destroy");
	eq_flush_locked(eq);
	fake_inside_leave(slot);
	fake_hdl_del(eqh.cookie);
	pthread_mutex_unlock(&eq->lock);
	pthread_mutex_destroy(&eq->lock);
	pthread_cond_destroy(&eq->cond);
	free(eq);
	fake_count(FC_eq_destroy, 1);
	return 0;
}
#endif

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#ifndef OMIT_daos_eq_poll
int
daos_eq_poll(daos_handle_t eqh, int wait_running, int64_t timeout, unsigned int nevents,
	     daos_event_t **events)
{
	struct fake_op **ready = NULL;
	unsigned         nready = 0, cap = 0, take;
	uint64_t         deadline, seed;
	struct eq       *eq;
	int              slot;
	int              rc = fake_daos_gate("daos_eq_poll");

	/* a failed poll (gate) leaves every event in flight: a later poll completes them */
	if (rc)
		return rc;
	if (nevents == 0 || events == NULL)
		return -DER_INVAL;
	if (eqh.cookie == 0)
		return -DER_NONEXIST;
	rc = eq_lookup(eqh.cookie, &eq);
	if (rc)
		return rc;
	slot = fake_inside_enter("daos_eq_poll"); /* before the count: tests wait on it */
	fake_count(FC_eq_poll, 1);
	deadline = deadline_of(timeout);
	seed     = fake_random64() | 1;

	pthread_mutex_lock(&eq->lock);
	for (;;) {
		uint64_t now = fake_now_ns(), wake;

		if (eq->finalizing) { /* eq_progress_cb: "EQ Progress called while finalizing" */
			pthread_mutex_unlock(&eq->lock);
			fake_inside_leave(slot);
			free(ready);
			return -DER_NONEXIST;
		}
		if (eq->ninflight > cap) {
			struct fake_op **n = realloc(ready, eq->ninflight * sizeof(*ready));

			if (n == NULL) {
				pthread_mutex_unlock(&eq->lock);
				fake_inside_leave(slot);
				free(ready);
				return -DER_NOMEM;
			}
			ready = n;
			cap   = eq->ninflight;
		}
		nready = 0;
		for (struct fake_op *op = eq->head.next; op != &eq->head; op = op->next)
			if (op->ready_ns <= now)
				ready[nready++] = op;
		if (nready > 0 || timeout == DAOS_EQ_NOWAIT || now >= deadline)
			break;
		if (wait_running && eq->ninflight == 0)
			break;
		wake = eq_next_ready(eq);
		eq_wait(eq, wake < deadline ? wake : deadline);
	}
	/* random completion order */
	for (unsigned i = nready; i > 1; i--) {
		unsigned        j   = (unsigned)(xorshift(&seed) % i);
		struct fake_op *tmp = ready[i - 1];

		ready[i - 1] = ready[j];
		ready[j]     = tmp;
	}
	take = nready < nevents ? nready : nevents;
	for (unsigned i = 0; i < take; i++)
		op_unlink(eq, ready[i]);
	pthread_mutex_unlock(&eq->lock);

	for (unsigned i = 0; i < take; i++) {
		events[i] = ready[i]->ev;
		op_complete(ready[i], EVS_READY);
	}
	fake_inside_leave(slot);
	free(ready);
	return (int)take;
}
#endif

#ifndef OMIT_daos_event_init
int
daos_event_init(daos_event_t *ev, daos_handle_t eqh, daos_event_t *parent)
{
	struct evx *evx;
	struct eq  *eq;
	int         rc = fake_daos_gate("daos_event_init");

	if (rc)
		return rc;
	if (ev == NULL)
		return -DER_INVAL;
	if (parent != NULL)
		return -DER_NOSYS; /* parent/child events are not emulated */
	if (eqh.cookie != 0) {
		rc = eq_lookup(eqh.cookie, &eq);
		if (rc)
			return rc;
	}
	/* DAOS would silently corrupt its lists; the double refuses */
	if (ev2evx(ev)->magic == EVX_MAGIC && ev2evx(ev)->status == EVS_RUNNING)
		return -DER_BUSY;
	memset(ev, 0, sizeof(*ev));
	evx         = ev2evx(ev);
	evx->magic  = EVX_MAGIC;
	evx->eqh    = eqh.cookie;
	evx->status = EVS_READY;
	return 0;
}
#endif

#ifndef OMIT_daos_event_fini
int
daos_event_fini(daos_event_t *ev)
{
	struct evx *evx;
	struct eq  *eq;
	int         rc = fake_daos_gate("daos_event_fini");

	if (rc)
		return rc;
	if (ev == NULL || ev2evx(ev)->magic != EVX_MAGIC)
		return -DER_INVAL;
	evx = ev2evx(ev);
	rc  = eq_lookup(evx->eqh, &eq);
	if (rc)
		return rc;
	if (__atomic_load_n(&evx->status, __ATOMIC_ACQUIRE) == EVS_RUNNING)
		return -DER_BUSY;
	evx->magic = 0;
	return 0;
}
#endif

#ifndef OMIT_daos_event_test
int
daos_event_test(struct daos_event *ev, int64_t timeout, bool *flag)
{
	struct fake_op *op = NULL;
	struct evx     *evx;
	struct eq      *eq;
	uint64_t        deadline;
	int             slot;
	int             rc = fake_daos_gate("daos_event_test");

	if (rc)
		return rc;
	if (ev == NULL || flag == NULL || ev2evx(ev)->magic != EVX_MAGIC)
		return -DER_INVAL;
	evx = ev2evx(ev);
	rc  = eq_lookup(evx->eqh, &eq);
	if (rc)
		return rc;
	fake_count(FC_event_test, 1);
	deadline = deadline_of(timeout);

	slot = fake_inside_enter("daos_event_test");
	pthread_mutex_lock(&eq->lock);
	for (;;) {
		uint64_t now = fake_now_ns();

		if (evx->status != EVS_RUNNING || evx->op == NULL)
			break;
		if (evx->op->ready_ns <= now) {
			op = evx->op;
			op_unlink(eq, op);
			break;
		}
		if (timeout == DAOS_EQ_NOWAIT || now >= deadline)
			break;
		eq_wait(eq, evx->op->ready_ns < deadline ? evx->op->ready_ns : deadline);
	}
	pthread_mutex_unlock(&eq->lock);

	if (op)
		op_complete(op, EVS_READY);
	fake_inside_leave(slot);
	*flag = __atomic_load_n(&evx->status, __ATOMIC_ACQUIRE) == EVS_READY;
	return 0;
}
#endif

#ifndef OMIT_daos_event_abort
int
daos_event_abort(daos_event_t *ev)
{
	struct evx *evx;
	struct eq  *eq;
	int         rc = fake_daos_gate("daos_event_abort");

	if (rc)
		return rc;
	if (ev == NULL || ev2evx(ev)->magic != EVX_MAGIC)
		return -DER_INVAL;
	evx = ev2evx(ev);
	rc  = eq_lookup(evx->eqh, &eq);
	if (rc)
		return rc;
	fake_count(FC_event_abort, 1);
	/* event.c daos_event_abort_locked: DAOS cannot abort a task or an RPC; the op goes on */
	pthread_mutex_lock(&eq->lock);
	rc = evx->status == EVS_RUNNING ? 0 : -DER_NO_PERM;
	pthread_mutex_unlock(&eq->lock);
	return rc;
}
#endif
