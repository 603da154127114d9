/*
 * libdfs.so test double: init/fini, connect/disconnect (with libdfs's per-process cache of pool
 * and container handles), mount/umount, local2global_all/global2local_all, sync.
 */
#include "fake_dfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LABEL_MAX 127 /* DAOS_PROP_LABEL_MAX_LEN */

static pthread_mutex_t g_mnt_lock = PTHREAD_MUTEX_INITIALIZER;
static int             g_dfs_init; /* dfs_init refcount */
static uint64_t        g_mnt_gen;  /* +1 when dfs_fini drops the cached handles */

/*
 * dfs_connect caches pool and container handles per process (mnt.c dfs_hdl_lookup,
 * dfs_hdl_insert), keyed by the names given and nothing else: the pool by its name, the
 * container by "pool/cont".  The access mode is not part of the key, so a read-write
 * dfs_connect after a read-only one mounts read-write on the cached read-only handles, and the
 * server refuses its writes (-DER_NO_PERM).  The table keeps its own reference to an entry
 * (dfs_hdl_insert starts it at 2) until dfs_fini, so an entry outlives dfs_disconnect.
 * dfs_global2local_all inserts into the same table; when the key is there already it closes
 * the handles it just made and uses the cached ones (the EEXIST case of dfs_hdl_insert).
 */
struct hcache {
	struct hcache *next;
	char           key[600];
	daos_handle_t  h;
	bool           is_pool;
	int            ref;
};
static struct hcache *g_hcache;

bool
dfs_lib_is_init(void)
{
	return __atomic_load_n(&g_dfs_init, __ATOMIC_ACQUIRE) > 0;
}

int
dfs_check(dfs_t *dfs)
{
	if (dfs == NULL || dfs->magic != DFS_MAGIC || dfs->mounted == DFS_NOT_MOUNTED)
		return EINVAL;
	/* used after daos_fini / dfs_fini released its handles: refused, not undefined */
	if (dfs->init_gen != fake_init_gen() || !fake_daos_is_init())
		return EINVAL;
	if (dfs->pool_ent && dfs->mnt_gen != __atomic_load_n(&g_mnt_gen, __ATOMIC_ACQUIRE))
		return EINVAL;
	/* handles attached from another process's, which that process has given up */
	if (fake_handles_check(dfs->poh, dfs->coh))
		return EINVAL; /* daos_der2errno(-DER_NO_HDL) */
	return 0;
}

void
obj_init_lock(dfs_obj_t *obj)
{
	pthread_mutex_init(&obj->lc_lock, NULL);
}

int
dfs_writable(dfs_t *dfs)
{
	return (dfs->amode == O_RDWR) ? 0 : EPERM;
}

static struct hcache *
hcache_find(const char *key)
{
	for (struct hcache *c = g_hcache; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

static struct hcache *
hcache_add(const char *key, daos_handle_t h, bool is_pool)
{
	struct hcache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->h       = h;
	c->is_pool = is_pool;
	c->ref     = 2; /* the caller's and the table's (dropped by dfs_fini) */
	c->next    = g_hcache;
	g_hcache   = c;
	return c;
}

static void
hcache_put(struct hcache *ent)
{
	struct hcache **pp;

	if (ent == NULL || --ent->ref > 0)
		return;
	for (pp = &g_hcache; *pp; pp = &(*pp)->next) {
		if (*pp == ent) {
			*pp = ent->next;
			break;
		}
	}
	if (ent->is_pool)
		fake_pool_close(ent->h);
	else
		fake_cont_close(ent->h);
	free(ent);
}

/* ---------------------------------------------------------------- init */
#ifndef OMIT_dfs_init
int
dfs_init(void)
{
	int rc = fake_dfs_gate_nofork("dfs_init");

	if (rc)
		return rc;
	pthread_mutex_lock(&g_mnt_lock);
	if (g_dfs_init > 0) {
		g_dfs_init++;
	} else {
		rc = daos_init();
		if (rc)
			rc = fake_der2errno(rc);
		else
			g_dfs_init = 1;
	}
	pthread_mutex_unlock(&g_mnt_lock);
	return rc;
}
#endif

#ifndef OMIT_dfs_fini
int
dfs_fini(void)
{
	int rc = fake_dfs_gate("dfs_fini", NULL, NULL);

	if (rc)
		return rc;
	pthread_mutex_lock(&g_mnt_lock);
	if (g_dfs_init == 0) {
		rc = EINVAL;
	} else if (--g_dfs_init == 0) {
		/* close the cached handles (containers first) */
		for (int pass = 0; pass < 2; pass++) {
			struct hcache **pp = &g_hcache;

			while (*pp) {
				struct hcache *c = *pp;

				if (c->is_pool == (pass == 1)) {
					*pp = c->next;
					if (c->is_pool)
						fake_pool_close(c->h);
					else
						fake_cont_close(c->h);
					free(c);
				} else {
					pp = &c->next;
				}
			}
		}
		__atomic_add_fetch(&g_mnt_gen, 1, __ATOMIC_ACQ_REL);
		rc = fake_der2errno(daos_fini());
	}
	pthread_mutex_unlock(&g_mnt_lock);
	return rc;
}
#endif

/* ---------------------------------------------------------------- mount */
static bool
env_true(const char *name)
{
	const char *v = getenv(name);

	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 ||
		     strcasecmp(v, "yes") == 0 || strcasecmp(v, "on") == 0);
}

static int
mount_int(daos_handle_t poh, daos_handle_t coh, int flags, dfs_t **_dfs)
{
	struct fake_pool *p = fake_pool_get(poh);
	struct fake_cont *c = fake_cont_get(coh);
	int               amode = flags & O_ACCMODE;
	dfs_t            *dfs;

	if (_dfs == NULL || amode == O_ACCMODE)
		return EINVAL;
	if (p == NULL || c == NULL)
		return EINVAL; /* daos_der2errno(-DER_NO_HDL) */
	dfs = calloc(1, sizeof(*dfs));
	if (dfs == NULL)
		return ENOMEM;
	dfs->magic      = DFS_MAGIC;
	dfs->mounted    = DFS_MOUNT;
	dfs->init_gen   = fake_init_gen();
	dfs->mnt_gen    = __atomic_load_n(&g_mnt_gen, __ATOMIC_ACQUIRE);
	dfs->amode      = amode == O_RDONLY ? O_RDONLY : O_RDWR;
	dfs->cont_rw    = (c->flags & DAOS_COO_RW) != 0;
	dfs->use_dtx    = env_true("DFS_USE_DTX");
	dfs->poh        = poh;
	dfs->coh        = coh;
	dfs->dir_shards = c->dir_shards;
	if (snprintf(dfs->cp.objs, sizeof(dfs->cp.objs), "%s/objs", c->dir) >=
		(int)sizeof(dfs->cp.objs) ||
	    snprintf(dfs->cp.tmp, sizeof(dfs->cp.tmp), "%s/tmp", c->dir) >= (int)sizeof(dfs->cp.tmp)) {
		free(dfs);
		return ENAMETOOLONG;
	}
	strcpy(dfs->pool_uuid, p->uuid);
	strcpy(dfs->cont_uuid, c->uuid);
	dfs->root.magic      = DFS_OBJ_MAGIC;
	dfs->root.dfs        = dfs;
	dfs->root.oid        = c->root;
	dfs->root.parent_oid = c->root;
	strcpy(dfs->root.name, "/");
	dfs->root.mode       = S_IFDIR | 0755;
	dfs->root.flags      = dfs->amode;
	dfs->root.fd         = -1;
	dfs->root.chunk_size = DFS_DEFAULT_CHUNK_SIZE;
	obj_init_lock(&dfs->root);
	*_dfs                = dfs;
	return 0;
}

static void
dfs_free(dfs_t *dfs)
{
	free(dfs->root.lc.keys);
	dfs->magic = 0;
	free(dfs);
}

#ifndef OMIT_dfs_mount
int
dfs_mount(daos_handle_t poh, daos_handle_t coh, int flags, dfs_t **dfs)
{
	int rc = fake_dfs_gate("dfs_mount", NULL, NULL);

	if (rc)
		return rc;
	/* dfs_mount reads the superblock: a revoked handle fails there; global2local needs no RPC */
	if (fake_handles_check(poh, coh))
		return EINVAL;
	return mount_int(poh, coh, flags, dfs);
}
#endif

#ifndef OMIT_dfs_umount
int
dfs_umount(dfs_t *dfs)
{
	int rc = fake_dfs_gate("dfs_umount", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || dfs->mounted != DFS_MOUNT)
		return EINVAL;
	dfs_free(dfs);
	return 0;
}
#endif

#ifndef OMIT_dfs_connect
int
dfs_connect(const char *pool, const char *sys, const char *cont, int flags, dfs_attr_t *attr,
	    dfs_t **_dfs)
{
	struct hcache *pe = NULL, *ce = NULL;
	daos_handle_t  poh, coh;
	char           key[600];
	int            amode = flags & O_ACCMODE, rc;

	(void)sys;
	(void)attr;
	rc = fake_dfs_gate("dfs_connect", NULL, NULL);
	if (rc)
		return rc;
	if (_dfs == NULL || pool == NULL || cont == NULL)
		return EINVAL;
	if (!dfs_lib_is_init())
		return EACCES;
	if (strlen(pool) > 256 || strlen(cont) > 256)
		return EINVAL;

	pthread_mutex_lock(&g_mnt_lock);
	snprintf(key, sizeof(key), "P|%s", pool);
	pe = hcache_find(key);
	if (pe) {
		pe->ref++;
	} else {
		rc = fake_pool_open(pool, amode == O_RDWR ? DAOS_PC_RW : DAOS_PC_RO, false, &poh);
		if (rc) {
			rc = fake_der2errno(rc);
			goto out;
		}
		pe = hcache_add(key, poh, true);
		if (pe == NULL) {
			fake_pool_close(poh);
			rc = ENOMEM;
			goto out;
		}
	}
	snprintf(key, sizeof(key), "C|%s/%s", pool, cont);
	ce = hcache_find(key);
	if (ce) {
		ce->ref++;
	} else {
		rc = fake_cont_open(pe->h, cont, amode == O_RDWR ? DAOS_COO_RW : DAOS_COO_RO, false,
				    &coh);
		if (rc) {
			/* O_CREAT (create the container) is not emulated */
			rc = fake_der2errno(rc);
			goto out;
		}
		ce = hcache_add(key, coh, false);
		if (ce == NULL) {
			fake_cont_close(coh);
			rc = ENOMEM;
			goto out;
		}
	}
	rc = mount_int(pe->h, ce->h, amode, _dfs);
	if (rc == 0) {
		(*_dfs)->mounted  = DFS_MOUNT_ALL;
		(*_dfs)->pool_ent = pe;
		(*_dfs)->cont_ent = ce;
	}
out:
	if (rc) {
		hcache_put(ce);
		hcache_put(pe);
	}
	pthread_mutex_unlock(&g_mnt_lock);
	return rc;
}
#endif

#ifndef OMIT_dfs_disconnect
int
dfs_disconnect(dfs_t *dfs)
{
	int rc = fake_dfs_gate("dfs_disconnect", NULL, NULL);

	if (rc)
		return rc;
	if (dfs == NULL || dfs->magic != DFS_MAGIC || dfs->mounted != DFS_MOUNT_ALL)
		return EINVAL;
	if (dfs_check(dfs))
		return EINVAL; /* after dfs_fini/daos_fini: its handles are gone already */
	pthread_mutex_lock(&g_mnt_lock);
	hcache_put(dfs->cont_ent);
	hcache_put(dfs->pool_ent);
	pthread_mutex_unlock(&g_mnt_lock);
	dfs_free(dfs);
	return 0;
}
#endif

/* ---------------------------------------------------------------- global handles */
#define GLOB_MAGIC     "FAKEGLB2"
#define DFS_GLOB_MAGIC "FAKEDFG1"

/* dfs_local2global: the mount alone (mnt.c dfs_local2global); attached with dfs_global2local */
struct dfs_glob {
	char     magic[8];
	uint32_t amode;
	uint32_t reserved;
	char     cont_uuid[FAKE_UUID_LEN];
	char     padding[64];
};

/*
 * dfs_local2global_all (mnt.c): the names the handles are cached under (the pool's name and
 * "pool/cont", as dfs_connect was given them), the pool and container handles' global forms,
 * and the mount's.
 */
struct glob {
	char     magic[8];
	char     pool_key[LABEL_MAX + 1];
	char     cont_key[LABEL_MAX * 2 + 2];
	char     pool_glob[256];
	char     cont_glob[256];
	uint32_t pool_glob_len, cont_glob_len;
	struct dfs_glob mnt;
};

static void
dfs_glob_fill(dfs_t *dfs, struct dfs_glob *g)
{
	memset(g, 0, sizeof(*g));
	memcpy(g->magic, DFS_GLOB_MAGIC, 8);
	g->amode = (uint32_t)dfs->amode;
	strcpy(g->cont_uuid, dfs->cont_uuid);
}

static int
glob_size(d_iov_t *glob, size_t need)
{
	if (glob->iov_buf == NULL) {
		glob->iov_buf_len = need;
		return 1;
	}
	if (glob->iov_buf_len < need) {
		glob->iov_buf_len = need;
		return -1;
	}
	return 0;
}

#ifndef OMIT_dfs_local2global
int
dfs_local2global(dfs_t *dfs, d_iov_t *glob)
{
	struct dfs_glob g;
	int             rc = fake_dfs_gate("dfs_local2global", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || glob == NULL ||
	    (glob->iov_buf != NULL && (glob->iov_buf_len == 0 || glob->iov_buf_len < glob->iov_len)))
		return EINVAL;
	rc = glob_size(glob, sizeof(g));
	if (rc)
		return rc > 0 ? 0 : ENOBUFS;
	dfs_glob_fill(dfs, &g);
	memcpy(glob->iov_buf, &g, sizeof(g));
	glob->iov_len = sizeof(g);
	return 0;
}
#endif

#ifndef OMIT_dfs_global2local
int
dfs_global2local(daos_handle_t poh, daos_handle_t coh, int flags, d_iov_t glob, dfs_t **_dfs)
{
	struct fake_cont *c = fake_cont_get(coh);
	struct dfs_glob   g;
	int               rc = fake_dfs_gate("dfs_global2local", NULL, NULL);

	if (rc)
		return rc;
	if (_dfs == NULL || glob.iov_buf == NULL || glob.iov_len < sizeof(g) ||
	    glob.iov_buf_len < glob.iov_len)
		return EINVAL;
	memcpy(&g, glob.iov_buf, sizeof(g));
	if (memcmp(g.magic, DFS_GLOB_MAGIC, 8) != 0 || g.cont_uuid[FAKE_UUID_LEN - 1] != '\0')
		return EINVAL; /* "Bad magic value" */
	if (c == NULL)
		return EINVAL;
	if (strcmp(c->uuid, g.cont_uuid) != 0)
		return EINVAL; /* "Container uuid mismatch" */
	return mount_int(poh, coh, flags == 0 ? (int)g.amode : (flags & O_ACCMODE), _dfs);
}
#endif

static int
handle_glob(daos_handle_t h, bool pool, char *buf, uint32_t *len)
{
	d_iov_t iov = {buf, 256, 0};
	int     rc  = pool ? daos_pool_local2global(h, &iov) : daos_cont_local2global(h, &iov);

	*len = (uint32_t)iov.iov_len;
	return rc ? fake_der2errno(rc) : 0;
}

#ifndef OMIT_dfs_local2global_all
int
dfs_local2global_all(dfs_t *dfs, d_iov_t *glob)
{
	struct glob g;
	int         rc = fake_dfs_gate("dfs_local2global_all", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || glob == NULL)
		return EINVAL;
	if (glob->iov_buf != NULL && glob->iov_buf_len == 0)
		return EINVAL;
	if (dfs->mounted != DFS_MOUNT_ALL || dfs->pool_ent == NULL)
		return EINVAL; /* libdfs dereferences dfs->pool_hdl: only connect/global2local_all */
	rc = glob_size(glob, sizeof(g));
	if (rc)
		return rc > 0 ? 0 : ENOBUFS;
	memset(&g, 0, sizeof(g));
	memcpy(g.magic, GLOB_MAGIC, 8);
	snprintf(g.pool_key, sizeof(g.pool_key), "%s", dfs->pool_ent->key + 2);
	snprintf(g.cont_key, sizeof(g.cont_key), "%s", dfs->cont_ent->key + 2);
	rc = handle_glob(dfs->poh, true, g.pool_glob, &g.pool_glob_len);
	if (rc == 0)
		rc = handle_glob(dfs->coh, false, g.cont_glob, &g.cont_glob_len);
	if (rc)
		return rc;
	dfs_glob_fill(dfs, &g.mnt);
	memcpy(glob->iov_buf, &g, sizeof(g));
	glob->iov_len = sizeof(g);
	return 0;
}
#endif

/* the cache entry for key, made from h when absent (then h is kept) or else h is closed */
static struct hcache *
hcache_insert(const char *key, daos_handle_t h, bool is_pool)
{
	struct hcache *c = hcache_find(key);

	if (c) {
		if (is_pool)
			fake_pool_close(h);
		else
			fake_cont_close(h);
		c->ref++;
		return c;
	}
	c = hcache_add(key, h, is_pool);
	if (c == NULL) {
		if (is_pool)
			fake_pool_close(h);
		else
			fake_cont_close(h);
	}
	return c;
}

#ifndef OMIT_dfs_global2local_all
int
dfs_global2local_all(int flags, d_iov_t glob, dfs_t **_dfs)
{
	struct glob    g;
	struct hcache *pe = NULL, *ce = NULL;
	daos_handle_t  poh, coh;
	char           key[600];
	int            rc;

	/* allowed in a forked child that did not call daos_reinit() (upstream's worker_init) */
	rc = fake_dfs_gate_nofork("dfs_global2local_all");
	if (rc)
		return rc;
	if (_dfs == NULL)
		return EINVAL;
	if (!dfs_lib_is_init())
		return EACCES;
	if (glob.iov_buf == NULL || glob.iov_buf_len < glob.iov_len || glob.iov_len < sizeof(g))
		return EINVAL;
	memcpy(&g, glob.iov_buf, sizeof(g));
	if (memcmp(g.magic, GLOB_MAGIC, 8) != 0 || g.pool_key[sizeof(g.pool_key) - 1] != '\0' ||
	    g.cont_key[sizeof(g.cont_key) - 1] != '\0' || g.pool_glob_len > sizeof(g.pool_glob) ||
	    g.cont_glob_len > sizeof(g.cont_glob))
		return EINVAL;
	rc = daos_pool_global2local((d_iov_t){g.pool_glob, g.pool_glob_len, g.pool_glob_len}, &poh);
	if (rc)
		return fake_der2errno(rc);
	pthread_mutex_lock(&g_mnt_lock);
	snprintf(key, sizeof(key), "P|%s", g.pool_key);
	pe = hcache_insert(key, poh, true);
	if (pe == NULL) {
		rc = ENOMEM;
		goto out;
	}
	rc = daos_cont_global2local(pe->h, (d_iov_t){g.cont_glob, g.cont_glob_len, g.cont_glob_len},
				    &coh);
	if (rc) {
		rc = fake_der2errno(rc);
		goto out;
	}
	/* dfs_hdl_insert(cont, DFS_H_CONT, pool): the key is "pool/" + the stored "pool/cont" */
	snprintf(key, sizeof(key), "C|%s/%s", g.pool_key, g.cont_key);
	ce = hcache_insert(key, coh, false);
	if (ce == NULL) {
		rc = ENOMEM;
		goto out;
	}
	rc = mount_int(pe->h, ce->h, flags == 0 ? (int)g.mnt.amode : (flags & O_ACCMODE), _dfs);
	if (rc == 0) {
		(*_dfs)->mounted  = DFS_MOUNT_ALL;
		(*_dfs)->pool_ent = pe;
		(*_dfs)->cont_ent = ce;
	}
out:
	if (rc) {
		hcache_put(ce);
		hcache_put(pe);
	}
	pthread_mutex_unlock(&g_mnt_lock);
	return rc;
}
#endif

#ifndef OMIT_dfs_sync
int
dfs_sync(dfs_t *dfs)
{
	int rc = fake_dfs_gate("dfs_sync", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (dfs_writable(dfs))
		return EPERM;
	fake_count(FC_sync, 1);
	return 0; /* "Take a snapshot here ... when supported" */
}
#endif
