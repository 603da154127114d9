/*
 * Pools and containers of the test double (part of libdaos.so.2).
 *
 * Store layout (created by control.py):
 *   STORE/pools/<pool-uuid>/meta                 label=..., readonly_for_user=0|1
 *   STORE/pools/<pool-uuid>/conts/<cont-uuid>/meta  label=..., dir_shards=N, readonly=0|1,
 *                                                root=<32 hex digits: oid.hi oid.lo>
 * A pool or container is named by its label or its UUID string.
 */
#include "fake_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
looks_like_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

/* value of "key=" in a small key=value file, or false */
static bool
meta_get(const char *dir, const char *key, char *out, size_t outlen)
{
	char   path[PATH_MAX + 8], buf[4096];
	size_t klen = strlen(key);
	FILE  *f;
	bool   found = false;

	snprintf(path, sizeof(path), "%s/meta", dir);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		if (strncmp(buf, key, klen) == 0 && buf[klen] == '=') {
			snprintf(out, outlen, "%s", buf + klen + 1);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* find the entry of "parent" named by label or UUID; fills dir/uuid; 0 or -DER_NONEXIST */
static int
resolve(const char *parent, const char *name, char *dir, size_t dirlen, char *uuid)
{
	char           label[256];
	DIR           *d;
	struct dirent *de;
	int            rc = -DER_NONEXIST;

	if (name == NULL || name[0] == '\0')
		return -DER_INVAL;
	if (looks_like_uuid(name)) {
		char lower[FAKE_UUID_LEN];

		for (int i = 0; i < 37; i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		snprintf(dir, dirlen, "%s/%s", parent, lower);
		if (access(dir, F_OK) != 0)
			return -DER_NONEXIST;
		strcpy(uuid, lower);
		return 0;
	}
	d = opendir(parent);
	if (d == NULL)
		return -DER_NONEXIST;
	while ((de = readdir(d)) != NULL) {
		if (!looks_like_uuid(de->d_name))
			continue;
		snprintf(dir, dirlen, "%s/%s", parent, de->d_name);
		if (meta_get(dir, "label", label, sizeof(label)) && strcmp(label, name) == 0) {
			strcpy(uuid, de->d_name);
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

static bool
meta_flag(const char *dir, const char *key)
{
	char v[32];

	return meta_get(dir, key, v, sizeof(v)) && strcmp(v, "1") == 0;
}

/* ---------------------------------------------------------------- server-side handles */
/*
 * STORE/hdls/<id> exists while the connection (pool) or open (container) of the process that
 * made it is live: the server's handle table.  DAOS evicts a handle when its owner disconnects
 * (pool/srv_pool.c: later requests with that handle UUID get -DER_NO_HDL) and when its owner
 * exits without disconnecting (daos_agent's process monitor, control/cmd/daos_agent/procmon.go).
 */
static void
sid_path(const struct fake_sid *sid, char *out, size_t len)
{
	snprintf(out, len, "%s/hdls/%s", fake_store(), sid->id);
}

static int
sid_register(struct fake_sid *sid)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(sid->id, sizeof(sid->id), "%016llx%016llx", (unsigned long long)fake_random64(),
		 (unsigned long long)fake_random64());
	sid->owner = getpid();
	snprintf(path, sizeof(path), "%s/hdls", fake_store());
	mkdir(path, 0755);
	sid_path(sid, path, sizeof(path));
	f = fopen(path, "we");
	if (f == NULL)
		return -DER_IO;
	fprintf(f, "pid=%d\n", (int)sid->owner);
	fclose(f);
	return 0;
}

static void
sid_evict(const struct fake_sid *sid)
{
	char path[PATH_MAX + 64];

	sid_path(sid, path, sizeof(path));
	unlink(path);
}

static bool
pid_alive(pid_t pid)
{
	char  path[64], buf[512], *p;
	FILE *f;
	bool  alive;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return true;
	alive = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	p = alive ? strrchr(buf, ')') : NULL;
	return !(p && p[1] == ' ' && p[2] == 'Z'); /* a zombie has exited */
}

/* true while the server still knows the handle */
static bool
sid_live(const struct fake_sid *sid)
{
	char path[PATH_MAX + 64];

	sid_path(sid, path, sizeof(path));
	if (access(path, F_OK) != 0)
		return false;
	if (pid_alive(sid->owner))
		return true;
	unlink(path); /* the agent evicts a dead process's handles */
	return false;
}

int
fake_handles_check(daos_handle_t poh, daos_handle_t coh)
{
	struct fake_pool *p = fake_pool_get(poh);
	struct fake_cont *c = fake_cont_get(coh);
	pid_t             me = getpid();

	if (p && (p->global || p->pid != me) && !sid_live(&p->sid))
		return -DER_NO_HDL;
	if (c && (c->global || c->pid != me) && !sid_live(&c->sid))
		return -DER_NO_HDL;
	return 0;
}

/* ---------------------------------------------------------------- internal API */
struct fake_pool *
fake_pool_get(daos_handle_t poh)
{
	return fake_hdl_get(poh.cookie, FH_POOL);
}

struct fake_cont *
fake_cont_get(daos_handle_t coh)
{
	return fake_hdl_get(coh.cookie, FH_CONT);
}

int
fake_pool_open(const char *pool, unsigned flags, bool global, daos_handle_t *poh)
{
	char              parent[PATH_MAX];
	struct fake_pool *p;
	int               rc;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -DER_NOMEM;
	snprintf(parent, sizeof(parent), "%s/pools", fake_store());
	rc = resolve(parent, pool, p->dir, sizeof(p->dir), p->uuid);
	if (rc)
		goto err;
	if ((flags & (DAOS_PC_RW | DAOS_PC_EX)) && meta_flag(p->dir, "readonly_for_user")) {
		rc = -DER_NO_PERM;
		goto err;
	}
	p->flags  = flags;
	p->global = global;
	p->pid    = getpid();
	if (!global) {
		rc = sid_register(&p->sid);
		if (rc)
			goto err;
	}
	poh->cookie = fake_hdl_new(FH_POOL, p);
	if (poh->cookie == 0) {
		rc = -DER_NOMEM;
		goto err_sid;
	}
	if (!global)
		fake_count(FC_pool_connect, 1);
	return 0;
err_sid:
	if (!global)
		sid_evict(&p->sid);
err:
	free(p);
	return rc;
}

int
fake_pool_attach(const char *pool_uuid, unsigned flags, const struct fake_sid *sid,
		 daos_handle_t *poh)
{
	int rc = fake_pool_open(pool_uuid, flags, true, poh);

	if (rc == 0)
		fake_pool_get(*poh)->sid = *sid;
	return rc;
}

int
fake_pool_close(daos_handle_t poh)
{
	struct fake_pool *p = fake_pool_get(poh);

	if (p == NULL)
		return -DER_NO_HDL;
	if (p->nconts > 0)
		return -DER_BUSY;
	fake_hdl_del(poh.cookie);
	/* a "slave" copy (inherited through fork) or a global2local handle only goes away */
	if (!p->global && p->pid == getpid()) {
		sid_evict(&p->sid); /* the server forgets it: attached copies are revoked */
		fake_count(FC_pool_disconnect, 1);
	}
	free(p);
	return 0;
}

int
fake_cont_open(daos_handle_t poh, const char *cont, unsigned flags, bool global,
	       daos_handle_t *coh)
{
	struct fake_pool *p = fake_pool_get(poh);
	struct fake_cont *c;
	char              parent[PATH_MAX + 8], v[64];
	int               rc;

	if (p == NULL)
		return -DER_NO_HDL;
	if (!global) { /* an open is an RPC with the pool handle; global2local is local */
		rc = fake_handles_check(poh, (daos_handle_t){0});
		if (rc)
			return rc;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -DER_NOMEM;
	snprintf(parent, sizeof(parent), "%s/conts", p->dir);
	rc = resolve(parent, cont, c->dir, sizeof(c->dir), c->uuid);
	if (rc)
		goto err;
	c->readonly_prop = meta_flag(c->dir, "readonly");
	if ((flags & DAOS_COO_RW) && (c->readonly_prop || !(p->flags & (DAOS_PC_RW | DAOS_PC_EX)))) {
		rc = -DER_NO_PERM;
		goto err;
	}
	c->dir_shards = 1;
	if (meta_get(c->dir, "dir_shards", v, sizeof(v)))
		c->dir_shards = (uint32_t)strtoul(v, NULL, 10);
	if (c->dir_shards == 0)
		c->dir_shards = 1;
	if (!meta_get(c->dir, "root", v, sizeof(v)) || strlen(v) != 32 ||
	    sscanf(v, "%16lx%16lx", &c->root.hi, &c->root.lo) != 2) {
		rc = -DER_NOSCHEMA; /* not a POSIX container */
		goto err;
	}
	c->poh    = poh;
	c->flags  = flags;
	c->global = global;
	c->pid    = getpid();
	if (!global) {
		rc = sid_register(&c->sid);
		if (rc)
			goto err;
	}
	coh->cookie = fake_hdl_new(FH_CONT, c);
	if (coh->cookie == 0) {
		if (!global)
			sid_evict(&c->sid);
		rc = -DER_NOMEM;
		goto err;
	}
	p->nconts++;
	if (!global)
		fake_count(FC_cont_open, 1);
	return 0;
err:
	free(c);
	return rc;
}

int
fake_cont_close(daos_handle_t coh)
{
	struct fake_cont *c = fake_cont_get(coh);
	struct fake_pool *p;

	if (c == NULL)
		return -DER_NO_HDL;
	if (c->nobjs > 0)
		return -DER_BUSY; /* container/cli.c dc_cont_close: objects still open */
	p = fake_pool_get(c->poh);
	if (p && p->nconts > 0)
		p->nconts--;
	fake_hdl_del(coh.cookie);
	if (!c->global && c->pid == getpid()) {
		sid_evict(&c->sid);
		fake_count(FC_cont_close, 1);
	}
	free(c);
	return 0;
}

void
fake_cont_objects(daos_handle_t coh, int delta)
{
	struct fake_cont *c = fake_cont_get(coh);

	if (c)
		__atomic_add_fetch(&c->nobjs, delta, __ATOMIC_RELAXED);
}

int
fake_cont_attach(daos_handle_t poh, const char *cont_uuid, unsigned flags,
		 const struct fake_sid *sid, daos_handle_t *coh)
{
	int rc = fake_cont_open(poh, cont_uuid, flags, true, coh);

	if (rc == 0)
		fake_cont_get(*coh)->sid = *sid;
	return rc;
}

/* ---------------------------------------------------------------- public API */
static int
finish(int rc, daos_event_t *ev)
{
	/* with an event the result is reported through the event (completed at the next poll) */
	if (ev == NULL)
		return rc;
	return fake_ev_complete_now(ev, rc);
}

#ifndef OMIT_daos_pool_connect2
int
daos_pool_connect2(const char *pool, const char *sys, unsigned int flags, daos_handle_t *poh,
		   daos_pool_info_t *info, daos_event_t *ev)
{
	int rc = fake_daos_gate("daos_pool_connect2");

	(void)sys;
	(void)info;
	if (rc)
		return rc;
	if (pool == NULL || poh == NULL ||
	    (flags != DAOS_PC_RO && flags != DAOS_PC_RW && flags != DAOS_PC_EX))
		return -DER_INVAL;
	return finish(fake_pool_open(pool, flags, false, poh), ev);
}
#ifndef OMIT_daos_pool_connect
extern __typeof(daos_pool_connect2) daos_pool_connect
    __attribute__((weak, alias("daos_pool_connect2")));
#endif
#endif

#ifndef OMIT_daos_pool_disconnect
int
daos_pool_disconnect(daos_handle_t poh, daos_event_t *ev)
{
	int rc = fake_daos_gate("daos_pool_disconnect");

	if (rc)
		return rc;
	return finish(fake_pool_close(poh), ev);
}
#endif

#ifndef OMIT_daos_cont_open2
int
daos_cont_open2(daos_handle_t poh, const char *cont, unsigned int flags, daos_handle_t *coh,
		daos_cont_info_t *info, daos_event_t *ev)
{
	int rc = fake_daos_gate("daos_cont_open2");

	(void)info;
	if (rc)
		return rc;
	if (cont == NULL || coh == NULL || !(flags & (DAOS_COO_RO | DAOS_COO_RW)))
		return -DER_INVAL;
	return finish(fake_cont_open(poh, cont, flags, false, coh), ev);
}
#ifndef OMIT_daos_cont_open
extern __typeof(daos_cont_open2) daos_cont_open __attribute__((weak, alias("daos_cont_open2")));
#endif
#endif

#ifndef OMIT_daos_cont_close
int
daos_cont_close(daos_handle_t coh, daos_event_t *ev)
{
	int rc = fake_daos_gate("daos_cont_close");

	if (rc)
		return rc;
	return finish(fake_cont_close(coh), ev);
}
#endif

/* ---------------------------------------------------------------- global handles */
/*
 * Global forms of pool and container handles (pool/cli.c dc_pool_local2global/global2local,
 * container/cli.c dc_cont_local2global/global2local): no RPC; the form carries the server-side
 * handle, so a process that attaches from it shares the owner's connection and loses it when
 * the owner disconnects.  Too small a buffer: -DER_TRUNC with the size needed.
 */
#define POOL_GLOB_MAGIC 0x5047464bu /* "KFGP" */
#define CONT_GLOB_MAGIC 0x4347464bu

struct handle_glob {
	uint32_t        magic;
	uint32_t        flags;
	char            uuid[FAKE_UUID_LEN];
	struct fake_sid sid;
	char            padding[64]; /* real forms carry a pool map and more */
};

static int
glob_out(d_iov_t *glob, const struct handle_glob *g)
{
	if (glob == NULL)
		return -DER_INVAL;
	if (glob->iov_buf == NULL) {
		glob->iov_buf_len = sizeof(*g);
		return 0;
	}
	if (glob->iov_buf_len < sizeof(*g)) {
		glob->iov_buf_len = sizeof(*g);
		return -DER_TRUNC;
	}
	memcpy(glob->iov_buf, g, sizeof(*g));
	glob->iov_len = sizeof(*g);
	return 0;
}

static int
glob_in(d_iov_t glob, uint32_t magic, struct handle_glob *g)
{
	if (glob.iov_buf == NULL || glob.iov_len < sizeof(*g) || glob.iov_buf_len < glob.iov_len)
		return -DER_INVAL;
	memcpy(g, glob.iov_buf, sizeof(*g));
	if (g->magic != magic || g->uuid[FAKE_UUID_LEN - 1] != '\0' ||
	    g->sid.id[FAKE_SID_LEN - 1] != '\0')
		return -DER_INVAL;
	return 0;
}

#ifndef OMIT_daos_pool_local2global
int
daos_pool_local2global(daos_handle_t poh, d_iov_t *glob)
{
	struct fake_pool  *p;
	struct handle_glob g;
	int                rc = fake_daos_gate("daos_pool_local2global");

	if (rc)
		return rc;
	p = fake_pool_get(poh);
	if (p == NULL)
		return -DER_NO_HDL;
	memset(&g, 0, sizeof(g));
	g.magic = POOL_GLOB_MAGIC;
	g.flags = p->flags;
	strcpy(g.uuid, p->uuid);
	g.sid = p->sid;
	rc    = glob_out(glob, &g);
	if (rc == 0 && glob->iov_buf)
		fake_count(FC_local2global, 1);
	return rc;
}
#endif

#ifndef OMIT_daos_pool_global2local
int
daos_pool_global2local(d_iov_t glob, daos_handle_t *poh)
{
	struct handle_glob g;
	int                rc = fake_daos_gate("daos_pool_global2local");

	if (rc)
		return rc;
	if (poh == NULL)
		return -DER_INVAL;
	rc = glob_in(glob, POOL_GLOB_MAGIC, &g);
	if (rc)
		return rc;
	rc = fake_pool_attach(g.uuid, g.flags, &g.sid, poh);
	if (rc == 0)
		fake_count(FC_global2local, 1);
	return rc;
}
#endif

#ifndef OMIT_daos_cont_local2global
int
daos_cont_local2global(daos_handle_t coh, d_iov_t *glob)
{
	struct fake_cont  *c;
	struct handle_glob g;
	int                rc = fake_daos_gate("daos_cont_local2global");

	if (rc)
		return rc;
	c = fake_cont_get(coh);
	if (c == NULL)
		return -DER_NO_HDL;
	memset(&g, 0, sizeof(g));
	g.magic = CONT_GLOB_MAGIC;
	g.flags = c->flags;
	strcpy(g.uuid, c->uuid);
	g.sid = c->sid;
	return glob_out(glob, &g);
}
#endif

#ifndef OMIT_daos_cont_global2local
int
daos_cont_global2local(daos_handle_t poh, d_iov_t glob, daos_handle_t *coh)
{
	struct handle_glob g;
	int                rc = fake_daos_gate("daos_cont_global2local");

	if (rc)
		return rc;
	if (coh == NULL)
		return -DER_INVAL;
	if (fake_pool_get(poh) == NULL)
		return -DER_NO_HDL;
	rc = glob_in(glob, CONT_GLOB_MAGIC, &g);
	if (rc)
		return rc;
	return fake_cont_attach(poh, g.uuid, g.flags, &g.sid, coh);
}
#endif
