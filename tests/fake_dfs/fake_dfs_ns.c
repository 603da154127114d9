/*
 * libdfs.so test double: namespace operations (lookup, open, stat, mkdir, remove, move) with
 * the argument checks and flag semantics of libdfs (src/client/dfs/{obj,dir,lookup,rename}.c).
 */
#include "fake_dfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SYMLINK_DEPTH 16

int
obj_check(dfs_obj_t *obj)
{
	return (obj && obj->magic == DFS_OBJ_MAGIC) ? 0 : EINVAL;
}

void
obj_free(dfs_obj_t *obj)
{
	if (obj->fd >= 0)
		close(obj->fd);
	free(obj->value);
	free(obj->lc.keys);
	pthread_mutex_destroy(&obj->lc_lock);
	fake_cont_objects(obj->coh, -1);
	obj->magic = 0;
	free(obj);
}

int
check_name(const char *name)
{
	size_t len;

	if (name == NULL || strchr(name, '/'))
		return EINVAL;
	len = strnlen(name, DFS_MAX_NAME + 1);
	if (len == 0 || len > DFS_MAX_NAME)
		return EINVAL;
	return 0;
}

int
launch_errno(int der)
{
	if (der == -DER_NO_HDL)
		return EBADF; /* EQ created before fork() */
	return fake_der2errno(der);
}

static bool
oid_eq(daos_obj_id_t a, daos_obj_id_t b)
{
	return a.lo == b.lo && a.hi == b.hi;
}

static bool
is_root(dfs_t *dfs, dfs_obj_t *obj)
{
	return obj == &dfs->root || oid_eq(obj->oid, dfs->root.oid);
}

static int
accmode_ok(int flags)
{
	return (flags & O_ACCMODE) != O_ACCMODE;
}

static struct timespec
now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts;
}

/* ---------------------------------------------------------------- stat */
int
fill_stat(dfs_t *dfs, const struct fake_entry *e, struct stat *st)
{
	char        path[PATH_MAX];
	struct stat ds;
	int         rc;

	memset(st, 0, sizeof(*st));
	st->st_mode    = e->mode;
	st->st_nlink   = 1;
	st->st_uid     = e->uid;
	st->st_gid     = e->gid;
	/* st_ino stays 0, as libdfs leaves it (entry_stat memsets stbuf and never sets it):
	 * an object's identity comes only from dfs_obj2id */
	st->st_blksize = (blksize_t)(e->chunk_size ? e->chunk_size : DFS_DEFAULT_CHUNK_SIZE);
	st->st_ctim.tv_sec  = e->ctime_sec;
	st->st_ctim.tv_nsec = e->ctime_nsec;
	st->st_mtim         = st->st_ctim;
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		rc = store_obj_path(&dfs->cp, e->oid, path, sizeof(path));
		if (rc)
			return rc;
		if (stat(path, &ds) == 0) { /* missing = punched: size 0 */
			st->st_size = ds.st_size;
			st->st_mtim = ds.st_mtim;
		}
		st->st_blocks = (st->st_size + 511) >> 9;
		break;
	case S_IFDIR:
		st->st_size = (off_t)sizeof(struct fake_entry_disk);
		if (store_dir_mtime(&dfs->cp, e->oid, &st->st_mtim) != 0)
			st->st_mtim = st->st_ctim;
		break;
	case S_IFLNK:
		st->st_size = (off_t)strlen(e->value);
		break;
	default:
		break;
	}
	if (st->st_mtim.tv_sec > st->st_ctim.tv_sec ||
	    (st->st_mtim.tv_sec == st->st_ctim.tv_sec && st->st_mtim.tv_nsec > st->st_ctim.tv_nsec))
		st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	return 0;
}

int
root_stat(dfs_t *dfs, struct stat *st)
{
	struct fake_entry e;

	memset(&e, 0, sizeof(e));
	e.mode       = dfs->root.mode;
	e.oid        = dfs->root.oid;
	e.uid        = geteuid();
	e.gid        = getegid();
	e.chunk_size = DFS_DEFAULT_CHUNK_SIZE;
	return fill_stat(dfs, &e, st);
}

/* ---------------------------------------------------------------- objects */
static dfs_obj_t *
obj_new(dfs_t *dfs, daos_obj_id_t parent, const char *name)
{
	dfs_obj_t *obj = calloc(1, sizeof(*obj));

	if (obj == NULL)
		return NULL;
	obj->magic      = DFS_OBJ_MAGIC;
	obj->dfs        = dfs;
	obj->parent_oid = parent;
	obj->fd         = -1;
	snprintf(obj->name, sizeof(obj->name), "%s", name);
	obj_init_lock(obj);
	obj->coh = dfs->coh;
	fake_cont_objects(obj->coh, +1);
	return obj;
}

static int
open_data(dfs_t *dfs, dfs_obj_t *obj)
{
	char path[PATH_MAX];
	int  rc = store_obj_path(&dfs->cp, obj->oid, path, sizeof(path));

	if (rc)
		return rc;
	obj->fd = open(path, O_RDWR | O_CLOEXEC);
	if (obj->fd < 0)
		return errno == ENOENT ? ENOENT : errno;
	return 0;
}

/* an object handle for an existing entry (files are opened, symlinks keep their value) */
static int
obj_from_entry(dfs_t *dfs, daos_obj_id_t parent, const struct fake_entry *e, int flags,
	       dfs_obj_t **out)
{
	dfs_obj_t *obj = obj_new(dfs, parent, e->name);
	int        rc  = 0;

	if (obj == NULL)
		return ENOMEM;
	obj->oid        = e->oid;
	obj->mode       = e->mode;
	obj->flags      = flags;
	obj->chunk_size = e->chunk_size ? e->chunk_size : DFS_DEFAULT_CHUNK_SIZE;
	obj->oclass     = e->oclass;
	if (S_ISREG(e->mode)) {
		rc = open_data(dfs, obj);
	} else if (S_ISLNK(e->mode)) {
		obj->value = strdup(e->value);
		if (obj->value == NULL)
			rc = ENOMEM;
	}
	if (rc) {
		obj_free(obj);
		return rc;
	}
	*out = obj;
	return 0;
}

static dfs_obj_t *
obj_copy_root(dfs_t *dfs, int flags)
{
	dfs_obj_t *obj = obj_new(dfs, dfs->root.oid, "/");

	if (obj) {
		obj->oid        = dfs->root.oid;
		obj->mode       = dfs->root.mode;
		obj->flags      = flags;
		obj->chunk_size = dfs->root.chunk_size;
	}
	return obj;
}

static int
truncate_obj(dfs_t *dfs, dfs_obj_t *obj)
{
	if (dfs_writable(dfs) || !dfs->cont_rw)
		return EPERM;
	if (ftruncate(obj->fd, 0) != 0)
		return errno;
	return 0;
}

/* ---------------------------------------------------------------- lookup */
struct dirref {
	daos_obj_id_t oid;
	daos_obj_id_t parent;
};

static int lookup_path(dfs_t *dfs, struct dirref start, const char *path, int flags,
		       dfs_obj_t **out, struct stat *st, int depth);

/* follow a symlink value relative to directory "dir"; the result must be a directory */
static int
follow_to_dir(dfs_t *dfs, struct dirref dir, const char *value, int flags, struct dirref *res,
	      int depth)
{
	dfs_obj_t *target;
	int        rc = lookup_path(dfs, dir, value, flags, &target, NULL, depth + 1);

	if (rc)
		return rc;
	if (!S_ISDIR(target->mode)) {
		obj_free(target);
		return ENOTDIR;
	}
	res->oid    = target->oid;
	res->parent = target->parent_oid;
	obj_free(target);
	return 0;
}

static int
lookup_path(dfs_t *dfs, struct dirref start, const char *path, int flags, dfs_obj_t **out,
	    struct stat *st, int depth)
{
	struct dirref     cur = start;
	struct fake_entry e;
	char             *copy, *save = NULL, *tok;
	dfs_obj_t        *obj = NULL;
	int               rc  = 0;

	if (depth >= MAX_SYMLINK_DEPTH)
		return ELOOP;
	if (path[0] == '/' && !oid_eq(start.oid, dfs->root.oid))
		return EINVAL; /* only paths from the root may be absolute */
	copy = strdup(path);
	if (copy == NULL)
		return ENOMEM;

	tok = strtok_r(copy, "/", &save);
	while (tok) {
		char *next;

		if (strcmp(tok, "..") == 0) {
			/* like libdfs: one level up, then a real name must follow */
			if (oid_eq(cur.oid, dfs->root.oid)) {
				rc = ENOENT;
				goto out;
			}
			cur.oid = cur.parent;
			cur.parent = dfs->root.oid; /* unknown beyond one level */
			tok        = strtok_r(NULL, "/", &save);
			if (tok == NULL || strcmp(tok, "..") == 0) {
				rc = ENOTSUP;
				goto out;
			}
		}
		rc = store_entry_get(&dfs->cp, cur.oid, tok, &e);
		if (rc)
			goto out;
		next = strtok_r(NULL, "/", &save);
		if (S_ISREG(e.mode)) {
			if (next) {
				rc = ENOENT; /* a file in the middle of the path */
				goto out;
			}
			rc = obj_from_entry(dfs, cur.oid, &e, flags, &obj);
			if (rc == 0 && (flags & O_TRUNC))
				rc = truncate_obj(dfs, obj);
			if (rc == 0 && st)
				rc = fill_stat(dfs, &e, st);
			goto out;
		}
		if (S_ISLNK(e.mode)) {
			if (next) {
				rc = follow_to_dir(dfs, cur, e.value, flags, &cur, depth);
				if (rc)
					goto out;
				tok = next;
				continue;
			}
			if (!(flags & O_NOFOLLOW)) {
				rc = lookup_path(dfs, cur, e.value, flags, &obj, st, depth + 1);
				goto out;
			}
			rc = obj_from_entry(dfs, cur.oid, &e, flags, &obj);
			if (rc == 0 && st)
				rc = fill_stat(dfs, &e, st);
			goto out;
		}
		if (!S_ISDIR(e.mode)) {
			rc = EINVAL;
			goto out;
		}
		if (next == NULL) {
			rc = obj_from_entry(dfs, cur.oid, &e, flags, &obj);
			if (rc == 0 && st)
				rc = fill_stat(dfs, &e, st);
			goto out;
		}
		cur.parent = cur.oid;
		cur.oid    = e.oid;
		tok        = next;
	}
	/* no name left: the starting directory itself */
	if (oid_eq(cur.oid, dfs->root.oid)) {
		obj = obj_copy_root(dfs, flags);
		if (obj == NULL)
			rc = ENOMEM;
		else if (st)
			rc = root_stat(dfs, st);
	} else {
		/* "dir/.." style endings and relative "" are not supported by libdfs either */
		rc = ENOTSUP;
	}
out:
	free(copy);
	if (rc && obj) {
		obj_free(obj);
		obj = NULL;
	}
	if (rc == 0)
		*out = obj;
	return rc;
}

#ifndef OMIT_dfs_lookup
int
dfs_lookup(dfs_t *dfs, const char *path, int flags, dfs_obj_t **_obj, mode_t *mode,
	   struct stat *stbuf)
{
	struct dirref root;
	int           rc = fake_dfs_gate("dfs_lookup", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (flags & O_APPEND)
		return ENOTSUP;
	if (_obj == NULL || path == NULL || strnlen(path, DFS_MAX_PATH) > DFS_MAX_PATH - 1)
		return EINVAL;
	if (path[0] != '/' || !accmode_ok(flags))
		return EINVAL;
	fake_count(FC_lookup, 1);
	root.oid = root.parent = dfs->root.oid;
	rc                     = lookup_path(dfs, root, path, flags, _obj, stbuf, 0);
	if (rc == 0 && mode)
		*mode = (*_obj)->mode;
	return rc;
}
#endif

static int
parent_dir(dfs_t *dfs, dfs_obj_t **parent)
{
	if (*parent == NULL) {
		*parent = &dfs->root;
		return 0;
	}
	if (obj_check(*parent))
		return EINVAL;
	return S_ISDIR((*parent)->mode) ? 0 : ENOTDIR;
}

#ifndef OMIT_dfs_lookup_rel
int
dfs_lookup_rel(dfs_t *dfs, dfs_obj_t *parent, const char *name, int flags, dfs_obj_t **_obj,
	       mode_t *mode, struct stat *stbuf)
{
	struct fake_entry e;
	dfs_obj_t        *obj = NULL;
	int               rc  = fake_dfs_gate("dfs_lookup_rel", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || _obj == NULL)
		return EINVAL;
	rc = parent_dir(dfs, &parent);
	if (rc)
		return rc;
	if (flags & O_APPEND)
		return ENOTSUP;
	if (check_name(name) || !accmode_ok(flags))
		return EINVAL;
	fake_count(FC_lookup, 1);
	rc = store_entry_get(&dfs->cp, parent->oid, name, &e);
	if (rc)
		return rc;
	if (S_ISLNK(e.mode) && !(flags & O_NOFOLLOW)) {
		struct dirref dir = {parent->oid, parent->parent_oid};

		rc = lookup_path(dfs, dir, e.value, flags, &obj, stbuf, 0);
	} else if (S_ISREG(e.mode) || S_ISDIR(e.mode) || S_ISLNK(e.mode)) {
		rc = obj_from_entry(dfs, parent->oid, &e, flags, &obj);
		if (rc == 0 && S_ISREG(e.mode) && (flags & O_TRUNC))
			rc = truncate_obj(dfs, obj);
		if (rc == 0 && stbuf)
			rc = fill_stat(dfs, &e, stbuf);
	} else {
		rc = EINVAL;
	}
	if (rc) {
		if (obj)
			obj_free(obj);
		return rc;
	}
	if (mode)
		*mode = obj->mode;
	*_obj = obj;
	return 0;
}
#endif

/* ---------------------------------------------------------------- open / create */
static uint32_t
shards_for(dfs_t *dfs, daos_oclass_id_t cid)
{
	uint32_t g = cid & 0xffff;

	if (cid == 0 || g == 0 || g == 0xffff) /* container default / "X" = all the pool's groups */
		return dfs->dir_shards;
	return g > 1024 ? 1024 : g;
}

static void
entry_init(struct fake_entry *e, const char *name, mode_t mode, daos_obj_id_t oid)
{
	struct timespec now = now_realtime();

	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->mode       = mode;
	e->oid        = oid;
	e->uid        = geteuid();
	e->gid        = getegid();
	e->ctime_sec  = now.tv_sec;
	e->ctime_nsec = now.tv_nsec;
}

/* make a directory object and its entry; EEXIST if the name exists */
static int
create_dir(dfs_t *dfs, dfs_obj_t *parent, const char *name, mode_t mode, daos_oclass_id_t cid,
	   struct fake_entry *e)
{
	daos_obj_id_t oid = store_new_oid(FAKE_OID_DIR, shards_for(dfs, cid));
	int           rc  = store_dir_create(&dfs->cp, oid);

	if (rc)
		return rc;
	entry_init(e, name, S_IFDIR | (mode & ~S_IFMT), oid);
	e->oclass     = cid;
	e->chunk_size = parent->chunk_size;
	rc            = store_entry_put(&dfs->cp, parent->oid, e, false);
	if (rc)
		store_obj_punch(&dfs->cp, oid);
	return rc;
}

static int
open_file(dfs_t *dfs, dfs_obj_t *parent, const char *name, mode_t mode, int flags,
	  daos_oclass_id_t cid, daos_size_t chunk_size, dfs_obj_t **out)
{
	struct fake_entry e;
	int               rc;

	if (flags & O_CREAT) {
		daos_obj_id_t oid = store_new_oid(FAKE_OID_FILE, 1);

		if (!dfs->cont_rw)
			return EPERM;
		rc = store_file_create(&dfs->cp, oid);
		if (rc)
			return rc;
		entry_init(&e, name, mode, oid);
		e.oclass     = cid;
		e.chunk_size = chunk_size ? chunk_size : parent->chunk_size;
		if (e.chunk_size == 0)
			e.chunk_size = DFS_DEFAULT_CHUNK_SIZE;
		rc = store_entry_put(&dfs->cp, parent->oid, &e, false);
		if (rc == 0)
			return obj_from_entry(dfs, parent->oid, &e, flags, out);
		store_obj_punch(&dfs->cp, oid);
		if (rc != EEXIST || (flags & O_EXCL))
			return rc;
		/* exists and no O_EXCL: a normal open of the existing entry */
	}
	rc = store_entry_get(&dfs->cp, parent->oid, name, &e);
	if (rc)
		return rc;
	if (!S_ISREG(e.mode))
		return EINVAL;
	if (!accmode_ok(flags))
		return EINVAL;
	rc = obj_from_entry(dfs, parent->oid, &e, flags, out);
	if (rc == 0 && (flags & O_TRUNC)) {
		rc = truncate_obj(dfs, *out);
		if (rc)
			obj_free(*out);
	}
	return rc;
}

static int
open_dir(dfs_t *dfs, dfs_obj_t *parent, const char *name, mode_t mode, int flags,
	 daos_oclass_id_t cid, dfs_obj_t **out)
{
	struct fake_entry e;
	int               rc;

	if (flags & O_CREAT) {
		if (!dfs->cont_rw)
			return EPERM;
		rc = create_dir(dfs, parent, name, mode, cid, &e);
		if (rc == 0) {
			fake_count(FC_mkdir, 1);
			return obj_from_entry(dfs, parent->oid, &e, flags, out);
		}
		if (rc != EEXIST || (flags & O_EXCL))
			return rc;
	}
	rc = store_entry_get(&dfs->cp, parent->oid, name, &e);
	if (rc)
		return rc;
	if (!S_ISDIR(e.mode))
		return ENOTDIR;
	if (!accmode_ok(flags))
		return EINVAL;
	return obj_from_entry(dfs, parent->oid, &e, flags, out);
}

static int
open_symlink(dfs_t *dfs, dfs_obj_t *parent, const char *name, int flags, const char *value,
	     dfs_obj_t **out)
{
	struct fake_entry e;
	int               rc;

	if (!(flags & O_CREAT))
		return ENOTSUP;
	if (value == NULL || strnlen(value, DFS_MAX_PATH) > DFS_MAX_PATH - 1)
		return EINVAL;
	if (!dfs->cont_rw)
		return EPERM;
	entry_init(&e, name, S_IFLNK | S_IRWXU | S_IRWXG | S_IRWXO, store_new_oid(FAKE_OID_LINK, 1));
	snprintf(e.value, sizeof(e.value), "%s", value);
	rc = store_entry_put(&dfs->cp, parent->oid, &e, false);
	if (rc)
		return rc; /* EEXIST whatever O_EXCL says, as libdfs */
	return obj_from_entry(dfs, parent->oid, &e, flags, out);
}

#ifndef OMIT_dfs_open
int
dfs_open(dfs_t *dfs, dfs_obj_t *parent, const char *name, mode_t mode, int flags,
	 daos_oclass_id_t cid, daos_size_t chunk_size, const char *value, dfs_obj_t **_obj)
{
	int rc = fake_dfs_gate("dfs_open", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (flags & O_APPEND)
		return ENOTSUP;
	if (dfs->amode != O_RDWR && (flags & O_CREAT))
		return EPERM;
	if (_obj == NULL)
		return EINVAL;
	if (S_ISLNK(mode) && value == NULL)
		return EINVAL;
	rc = parent_dir(dfs, &parent);
	if (rc)
		return rc;
	if (check_name(name))
		return EINVAL;
	fake_count(FC_open, 1);
	switch (mode & S_IFMT) {
	case S_IFREG:
		return open_file(dfs, parent, name, mode, flags, cid, chunk_size, _obj);
	case S_IFDIR:
		return open_dir(dfs, parent, name, mode, flags, cid, _obj);
	case S_IFLNK:
		return open_symlink(dfs, parent, name, flags, value, _obj);
	default:
		return EINVAL;
	}
}
#endif

#ifndef OMIT_dfs_dup
int
dfs_dup(dfs_t *dfs, dfs_obj_t *obj, int flags, dfs_obj_t **_new_obj)
{
	dfs_obj_t *n;
	int        rc = fake_dfs_gate("dfs_dup", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || obj_check(obj) || _new_obj == NULL)
		return EINVAL;
	if (flags & O_APPEND)
		return ENOTSUP;
	if (!accmode_ok(flags))
		return EINVAL;
	n = obj_new(dfs, obj->parent_oid, obj->name);
	if (n == NULL)
		return ENOMEM;
	n->oid        = obj->oid;
	n->mode       = obj->mode;
	n->flags      = flags;
	n->chunk_size = obj->chunk_size;
	n->oclass     = obj->oclass;
	if (obj->fd >= 0) {
		n->fd = fcntl(obj->fd, F_DUPFD_CLOEXEC, 0);
		if (n->fd < 0) {
			rc = errno;
			obj_free(n);
			return rc;
		}
	}
	if (obj->value && (n->value = strdup(obj->value)) == NULL) {
		obj_free(n);
		return ENOMEM;
	}
	*_new_obj = n;
	return 0;
}
#endif

#ifndef OMIT_dfs_release
int
dfs_release(dfs_obj_t *obj)
{
	int rc = fake_dfs_gate("dfs_release", NULL, NULL);

	if (rc)
		return rc;
	if (obj_check(obj) || obj == &obj->dfs->root)
		return EINVAL;
	if (!fake_daos_is_init()) {
		/* daos_obj_close looks the handle up in the handle hash that daos_fini destroyed:
		 * D_ASSERT(daos_ht.dht_hhash != NULL) in daos_hhash_link_lookup (common/misc.c) */
		fprintf(stderr, "fake DAOS: dfs_release after daos_fini: DAOS aborts here "
				"(daos_hhash_link_lookup asserts)\n");
		abort();
	}
	fake_count(FC_release, 1);
	obj_free(obj);
	return 0;
}
#endif

/* ---------------------------------------------------------------- stat */
#ifndef OMIT_dfs_stat
int
dfs_stat(dfs_t *dfs, dfs_obj_t *parent, const char *name, struct stat *stbuf)
{
	struct fake_entry e;
	int               rc = fake_dfs_gate("dfs_stat", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || stbuf == NULL)
		return EINVAL;
	rc = parent_dir(dfs, &parent);
	if (rc)
		return rc;
	fake_count(FC_stat, 1);
	if (name == NULL) {
		if (!is_root(dfs, parent))
			return EINVAL;
		return root_stat(dfs, stbuf);
	}
	if (check_name(name))
		return EINVAL;
	rc = store_entry_get(&dfs->cp, parent->oid, name, &e);
	if (rc)
		return rc;
	return fill_stat(dfs, &e, stbuf); /* lstat: a symlink is not followed */
}
#endif

#ifndef OMIT_dfs_ostat
int
dfs_ostat(dfs_t *dfs, dfs_obj_t *obj, struct stat *stbuf)
{
	struct fake_entry e;
	int               rc = fake_dfs_gate("dfs_ostat", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || obj_check(obj) || stbuf == NULL)
		return EINVAL;
	fake_count(FC_ostat, 1);
	if (is_root(dfs, obj))
		return root_stat(dfs, stbuf);
	/* like libdfs: re-read the entry by name from the parent (ENOENT once moved/removed) */
	rc = store_entry_get(&dfs->cp, obj->parent_oid, obj->name, &e);
	if (rc)
		return rc;
	return fill_stat(dfs, &e, stbuf);
}
#endif

/* ---------------------------------------------------------------- mkdir / remove / move */
#ifndef OMIT_dfs_mkdir
int
dfs_mkdir(dfs_t *dfs, dfs_obj_t *parent, const char *name, mode_t mode, daos_oclass_id_t cid)
{
	struct fake_entry e;
	int               rc = fake_dfs_gate("dfs_mkdir", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (dfs_writable(dfs))
		return EPERM;
	rc = parent_dir(dfs, &parent);
	if (rc)
		return rc;
	if (check_name(name))
		return EINVAL;
	if (!dfs->cont_rw)
		return EPERM;
	rc = create_dir(dfs, parent, name, mode, cid, &e);
	if (rc == 0)
		fake_count(FC_mkdir, 1);
	return rc;
}
#endif

/* punch the object of an entry, then remove the entry (libdfs's remove_entry) */
static int
remove_entry(dfs_t *dfs, daos_obj_id_t dir, const struct fake_entry *e)
{
	int rc = 0;

	if (!S_ISLNK(e->mode))
		rc = store_obj_punch(&dfs->cp, e->oid);
	if (rc == 0)
		rc = store_entry_del(&dfs->cp, dir, e->name);
	return rc;
}

static int
remove_contents(dfs_t *dfs, daos_obj_id_t dir)
{
	for (uint32_t s = 0; s < store_oid_shards(dir); s++) {
		char (*keys)[FAKE_KEY_LEN + 1] = NULL;
		struct timespec mt;
		uint32_t        n;
		int             rc = store_shard_keys(&dfs->cp, dir, s, &keys, &n, &mt);

		if (rc)
			return rc;
		for (uint32_t i = 0; i < n && rc == 0; i++) {
			struct fake_entry e;

			if (store_entry_get_key(&dfs->cp, dir, s, keys[i], &e) != 0)
				continue; /* removed meanwhile */
			if (S_ISDIR(e.mode))
				rc = remove_contents(dfs, e.oid);
			if (rc == 0)
				rc = remove_entry(dfs, dir, &e);
			if (rc == ENOENT)
				rc = 0;
		}
		free(keys);
		if (rc)
			return rc;
	}
	return 0;
}

#ifndef OMIT_dfs_remove
int
dfs_remove(dfs_t *dfs, dfs_obj_t *parent, const char *name, bool force, daos_obj_id_t *oid)
{
	struct fake_entry e;
	uint32_t          nr;
	int               rc = fake_dfs_gate("dfs_remove", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (dfs_writable(dfs))
		return EPERM;
	rc = parent_dir(dfs, &parent);
	if (rc)
		return rc;
	if (check_name(name))
		return EINVAL;
	if (!dfs->cont_rw)
		return EPERM;
	rc = store_entry_get(&dfs->cp, parent->oid, name, &e);
	if (rc)
		return rc;
	if (S_ISDIR(e.mode)) {
		rc = store_dir_count(&dfs->cp, e.oid, 1, &nr);
		if (rc)
			return rc;
		if (nr && !force)
			return ENOTEMPTY;
		if (nr) {
			rc = remove_contents(dfs, e.oid);
			if (rc)
				return rc;
		}
	}
	rc = remove_entry(dfs, parent->oid, &e);
	if (rc)
		return rc;
	if (oid)
		*oid = e.oid;
	fake_count(FC_remove, 1);
	return 0;
}
#endif

/*
 * With DTX (DFS_USE_DTX=1) libdfs's dfs_move_internal (src/client/dfs/rename.c) runs its steps
 * in one transaction: the writes are applied in the order they were issued, each at the next
 * minor epoch (src/object/obj_tx.c: sub-requests "sorted as their sponsored order";
 * src/dtx/dtx_common.c: dth_op_seq), and the reads in it do not see its own writes.  The
 * result: a target that exists is punched (remove_entry punches its object, symlinks aside),
 * even when it refers to the source's object; the source entry ends up at the new name; the
 * old name is punched last.
 */
static int
move_dtx(dfs_t *dfs, dfs_obj_t *parent, const struct fake_entry *src, dfs_obj_t *new_parent,
	 const struct fake_entry *moved, const struct fake_entry *old_dst, bool dst_exists)
{
	bool same = oid_eq(parent->oid, new_parent->oid) && strcmp(src->name, moved->name) == 0;
	int  rc;

	if (same && S_ISLNK(src->mode))
		return 0; /* punch, punch, re-insert of the same symlink entry: it stays */
	if (same) {
		/* punch object, punch entry, insert entry, punch entry: the name and its data go */
		rc = store_obj_punch(&dfs->cp, src->oid);
		return rc ? rc : store_entry_del(&dfs->cp, parent->oid, src->name);
	}
	/* the new entry replaces the target in one rename(2); then the source name goes */
	rc = store_entry_put(&dfs->cp, new_parent->oid, moved, true);
	if (rc)
		return rc;
	rc = store_entry_del(&dfs->cp, parent->oid, src->name);
	if (rc)
		return rc;
	if (dst_exists && !S_ISLNK(old_dst->mode))
		store_obj_punch(&dfs->cp, old_dst->oid); /* also when it was the source's object */
	return 0;
}

/*
 * Without DTX, dfs_move_internal's updates are separate DAOS operations, and a crash (the
 * FAKE_DAOS_CRASH_AT points, one after each update) leaves what was done so far:
 *   target exists: remove_entry: daos_obj_punch of its object (not for a symlink)
 *                  [after_punch_target], then its dkey punch [after_remove_target];
 *   a symlink:     remove_entry of the source [after_remove_source], then the insert under
 *                  the new name with DAOS_COND_DKEY_INSERT [after_insert];
 *   otherwise:     the insert [after_insert] (both names now refer to one object), the
 *                  xattr copy (xattrs are not emulated), then the conditional punch of the
 *                  source dkey [after_remove_source].
 * Moving an entry onto its own name follows the same steps: the target (itself) is punched
 * and removed, re-inserted, then punched again as the source: the file is gone (rc 0); a
 * symlink is gone and the second removal answers ENOENT (DAOS_COND_PUNCH of a missing dkey).
 */
static int
move_remove_target(dfs_t *dfs, dfs_obj_t *new_parent, const struct fake_entry *dst)
{
	int rc = 0;

	if (!S_ISLNK(dst->mode)) {
		rc = store_obj_punch(&dfs->cp, dst->oid);
		if (rc)
			return rc;
		fake_crash_point("move:after_punch_target");
	}
	rc = store_entry_del(&dfs->cp, new_parent->oid, dst->name);
	if (rc == 0)
		fake_crash_point("move:after_remove_target");
	return rc;
}

static int
move_plain(dfs_t *dfs, dfs_obj_t *parent, const struct fake_entry *src, dfs_obj_t *new_parent,
	   const struct fake_entry *moved, const struct fake_entry *dst, bool dst_exists)
{
	int rc = dst_exists ? move_remove_target(dfs, new_parent, dst) : 0;

	if (rc)
		return rc;
	if (S_ISLNK(src->mode)) {
		rc = store_entry_del(&dfs->cp, parent->oid, src->name);
		if (rc)
			return rc;
		fake_crash_point("move:after_remove_source");
		rc = store_entry_put(&dfs->cp, new_parent->oid, moved, false);
		if (rc == 0)
			fake_crash_point("move:after_insert");
		return rc;
	}
	rc = store_entry_put(&dfs->cp, new_parent->oid, moved, false);
	if (rc)
		return rc;
	fake_crash_point("move:after_insert");
	rc = store_entry_del(&dfs->cp, parent->oid, src->name);
	if (rc == 0)
		fake_crash_point("move:after_remove_source");
	return rc;
}

#ifndef OMIT_dfs_move
int
dfs_move(dfs_t *dfs, dfs_obj_t *parent, const char *name, dfs_obj_t *new_parent,
	 const char *new_name, daos_obj_id_t *oid)
{
	struct fake_entry src, dst, moved;
	bool              dst_exists;
	int               rc = fake_dfs_gate("dfs_move", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (dfs_writable(dfs))
		return EPERM;
	rc = parent_dir(dfs, &parent);
	if (rc == 0)
		rc = parent_dir(dfs, &new_parent);
	if (rc)
		return rc;
	if (check_name(name) || check_name(new_name))
		return EINVAL;
	if (!dfs->cont_rw)
		return EPERM;
	rc = store_entry_get(&dfs->cp, parent->oid, name, &src);
	if (rc)
		return rc;
	/* no same-name shortcut: libdfs has none (the entry is its own target, see move_plain) */
	rc = store_entry_get(&dfs->cp, new_parent->oid, new_name, &dst);
	if (rc && rc != ENOENT)
		return rc;
	dst_exists = (rc == 0);
	if (dst_exists && S_ISDIR(dst.mode)) {
		uint32_t nr;

		if (!S_ISDIR(src.mode))
			return EINVAL; /* can't rename non dir over a dir */
		rc = store_dir_count(&dfs->cp, dst.oid, 1, &nr);
		if (rc)
			return rc;
		if (nr)
			return ENOTEMPTY;
	}
	moved = src;
	snprintf(moved.name, sizeof(moved.name), "%s", new_name);
	if (!S_ISLNK(src.mode)) {
		struct timespec now = now_realtime();

		moved.ctime_sec  = now.tv_sec;
		moved.ctime_nsec = now.tv_nsec;
	}
	if (dfs->use_dtx)
		rc = move_dtx(dfs, parent, &src, new_parent, &moved, &dst, dst_exists);
	else
		rc = move_plain(dfs, parent, &src, new_parent, &moved, &dst, dst_exists);
	if (rc)
		return rc;
	if (oid && dst_exists)
		*oid = dst.oid; /* the oid of the target that was punched */
	fake_count(FC_move, 1);
	return 0;
}
#endif

/* ---------------------------------------------------------------- small getters */
#ifndef OMIT_dfs_get_mode
int
dfs_get_mode(dfs_obj_t *obj, mode_t *mode)
{
	if (obj_check(obj) || mode == NULL)
		return EINVAL;
	*mode = obj->mode;
	return 0;
}
#endif

#ifndef OMIT_dfs_obj2id
int
dfs_obj2id(dfs_obj_t *obj, daos_obj_id_t *oid)
{
	if (obj_check(obj) || oid == NULL)
		return EINVAL;
	*oid = obj->oid;
	return 0;
}
#endif

#ifndef OMIT_dfs_get_chunk_size
int
dfs_get_chunk_size(dfs_obj_t *obj, daos_size_t *chunk_size)
{
	if (obj_check(obj) || chunk_size == NULL || !S_ISREG(obj->mode))
		return EINVAL;
	*chunk_size = obj->chunk_size;
	return 0;
}
#endif

#ifndef OMIT_dfs_obj_get_info
int
dfs_obj_get_info(dfs_t *dfs, dfs_obj_t *obj, dfs_obj_info_t *info)
{
	if (dfs_check(dfs) || obj_check(obj) || info == NULL)
		return EINVAL;
	/* only the release's members: a caller of an older release has a smaller struct */
	memset(info, 0, sizeof(*info));
	info->doi_oclass_id  = obj->oclass;
	info->doi_chunk_size = S_ISLNK(obj->mode) ? 0 : obj->chunk_size;
#if FAKE_DAOS_VERSION >= 20604
	info->doi_oid = obj->oid;
#endif
	return 0;
}
#endif
