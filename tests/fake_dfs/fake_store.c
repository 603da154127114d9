/*
 * Object store of the test double (see fake_store.h for the layout).  Creation is atomic for
 * concurrent processes: entries are written to CONT/tmp and link(2)ed into place (fails with
 * EEXIST if the name exists) or rename(2)d over an existing one; directory objects are built in
 * CONT/tmp and renamed into place; file objects are created with O_EXCL.
 */
#include "fake_store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t
fnv1a64(const char *s, uint64_t h)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void
store_key(const char *name, char key[FAKE_KEY_LEN + 1], uint64_t *h1)
{
	uint64_t a = mix64(fnv1a64(name, 0xcbf29ce484222325ull));
	uint64_t b = mix64(fnv1a64(name, 0x84222325cbf29ce4ull));

	snprintf(key, FAKE_KEY_LEN + 1, "%016lx%016lx", (unsigned long)a, (unsigned long)b);
	if (h1)
		*h1 = a;
}

daos_obj_id_t
store_new_oid(unsigned type, uint32_t shards)
{
	daos_obj_id_t oid;

	oid.lo = fake_random64();
	oid.hi = ((uint64_t)type << 56) | ((uint64_t)(shards & 0xffff) << 32) |
		 (fake_random64() & 0xffffffffull);
	return oid;
}

uint32_t
store_oid_shards(daos_obj_id_t oid)
{
	uint32_t n = (uint32_t)((oid.hi >> 32) & 0xffff);

	return n ? n : 1;
}

int
store_obj_path(const struct fake_cpaths *cp, daos_obj_id_t oid, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%016lx%016lx", cp->objs, (unsigned long)oid.hi,
			 (unsigned long)oid.lo);

	return (n < 0 || (size_t)n >= len) ? ENAMETOOLONG : 0;
}

static int
shard_path(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t shard, char *out,
	   size_t len)
{
	int n = snprintf(out, len, "%s/%016lx%016lx/%u", cp->objs, (unsigned long)dir.hi,
			 (unsigned long)dir.lo, shard);

	return (n < 0 || (size_t)n >= len) ? ENAMETOOLONG : 0;
}

static int
entry_path(const struct fake_cpaths *cp, daos_obj_id_t dir, const char *name, char *out,
	   size_t len)
{
	char     key[FAKE_KEY_LEN + 1];
	uint64_t h1;
	int      n;

	store_key(name, key, &h1);
	n = snprintf(out, len, "%s/%016lx%016lx/%u/%s", cp->objs, (unsigned long)dir.hi,
		     (unsigned long)dir.lo, (unsigned)(h1 % store_oid_shards(dir)), key);
	return (n < 0 || (size_t)n >= len) ? ENAMETOOLONG : 0;
}

static int
tmp_path(const struct fake_cpaths *cp, const char *kind, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s.%d.%016lx", cp->tmp, kind, (int)getpid(),
			 (unsigned long)fake_random64());

	return (n < 0 || (size_t)n >= len) ? ENAMETOOLONG : 0;
}

/* ---------------------------------------------------------------- entries */
static int
entry_decode(const char *buf, size_t n, struct fake_entry *e)
{
	struct fake_entry_disk d;

	if (n < sizeof(d))
		return EIO;
	memcpy(&d, buf, sizeof(d));
	if (memcmp(d.magic, "FDE1", 4) != 0 || d.name_len > NAME_MAX || d.value_len >= PATH_MAX ||
	    sizeof(d) + d.name_len + d.value_len != n)
		return EIO;
	e->mode       = d.mode;
	e->oid.lo     = d.oid_lo;
	e->oid.hi     = d.oid_hi;
	e->chunk_size = d.chunk_size;
	e->oclass     = d.oclass;
	e->uid        = d.uid;
	e->gid        = d.gid;
	e->ctime_sec  = d.ctime_sec;
	e->ctime_nsec = d.ctime_nsec;
	memcpy(e->name, buf + sizeof(d), d.name_len);
	e->name[d.name_len] = '\0';
	memcpy(e->value, buf + sizeof(d) + d.name_len, d.value_len);
	e->value[d.value_len] = '\0';
	return 0;
}

static int
entry_read_path(const char *path, struct fake_entry *e)
{
	char    buf[sizeof(struct fake_entry_disk) + NAME_MAX + PATH_MAX + 8];
	ssize_t n;
	int     fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? ENOENT : errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return EIO;
	return entry_decode(buf, (size_t)n, e);
}

int
store_entry_get(const struct fake_cpaths *cp, daos_obj_id_t dir, const char *name,
		struct fake_entry *e)
{
	char path[PATH_MAX];
	int  rc = entry_path(cp, dir, name, path, sizeof(path));

	if (rc == 0)
		rc = entry_read_path(path, e);
	if (rc == 0 && strcmp(e->name, name) != 0)
		rc = ENOENT; /* a 128-bit hash collision: not emulated, treated as absent */
	return rc;
}

int
store_entry_get_key(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t shard,
		    const char *key, struct fake_entry *e)
{
	char path[PATH_MAX];
	int  rc = shard_path(cp, dir, shard, path, sizeof(path) - FAKE_KEY_LEN - 2);

	if (rc)
		return rc;
	strcat(path, "/");
	strcat(path, key);
	return entry_read_path(path, e);
}

int
store_entry_put(const struct fake_cpaths *cp, daos_obj_id_t dir, const struct fake_entry *e,
		bool replace)
{
	struct fake_entry_disk d = {.magic = {'F', 'D', 'E', '1'}};
	char                   buf[sizeof(d) + NAME_MAX + PATH_MAX];
	char                   path[PATH_MAX], tmp[PATH_MAX];
	size_t                 n;
	ssize_t                w;
	int                    fd, rc;

	d.mode       = e->mode;
	d.oid_lo     = e->oid.lo;
	d.oid_hi     = e->oid.hi;
	d.chunk_size = e->chunk_size;
	d.oclass     = e->oclass;
	d.uid        = e->uid;
	d.gid        = e->gid;
	d.name_len   = (uint32_t)strlen(e->name);
	d.value_len  = (uint32_t)strlen(e->value);
	d.ctime_sec  = e->ctime_sec;
	d.ctime_nsec = e->ctime_nsec;
	memcpy(buf, &d, sizeof(d));
	memcpy(buf + sizeof(d), e->name, d.name_len);
	memcpy(buf + sizeof(d) + d.name_len, e->value, d.value_len);
	n = sizeof(d) + d.name_len + d.value_len;

	rc = entry_path(cp, dir, e->name, path, sizeof(path));
	if (rc == 0)
		rc = tmp_path(cp, "e", tmp, sizeof(tmp));
	if (rc)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	w = write(fd, buf, n);
	rc = (w == (ssize_t)n) ? 0 : (w < 0 ? errno : EIO);
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	for (int attempt = 0; rc == 0; attempt++) {
		rc = replace ? rename(tmp, path) : link(tmp, path);
		rc = rc == 0 ? 0 : errno;
		/*
		 * A punched directory object is an empty object, not a missing one: DAOS inserts the
		 * new dkey into it (dfs_open/dfs_mkdir through a stale parent handle succeed), and
		 * the entry is an orphan no path reaches.  Bring the object back and insert.
		 */
		if (attempt > 0 || (rc != ENOENT && rc != ENOTDIR))
			break;
		rc = store_dir_create(cp, dir);
		if (rc == EEXIST || rc == ENOTEMPTY)
			rc = 0;
	}
	unlink(tmp); /* after rename(2) it is gone already */
	if (rc == ENOTDIR)
		rc = ENOENT;
	return rc;
}

int
store_entry_del(const struct fake_cpaths *cp, daos_obj_id_t dir, const char *name)
{
	char path[PATH_MAX];
	int  rc = entry_path(cp, dir, name, path, sizeof(path));

	if (rc)
		return rc;
	if (unlink(path) != 0)
		return errno == ENOTDIR ? ENOENT : errno;
	return 0;
}

/* ---------------------------------------------------------------- objects */
int
store_dir_create(const struct fake_cpaths *cp, daos_obj_id_t oid)
{
	char     tmp[PATH_MAX], sub[PATH_MAX + 16], path[PATH_MAX];
	uint32_t n = store_oid_shards(oid);
	int      rc;

	rc = tmp_path(cp, "d", tmp, sizeof(tmp));
	if (rc == 0)
		rc = store_obj_path(cp, oid, path, sizeof(path));
	if (rc)
		return rc;
	if (mkdir(tmp, 0755) != 0)
		return errno;
	for (uint32_t s = 0; s < n; s++) {
		snprintf(sub, sizeof(sub), "%s/%u", tmp, s);
		if (mkdir(sub, 0755) != 0) {
			rc = errno;
			goto undo;
		}
	}
	if (rename(tmp, path) != 0) {
		rc = errno;
		goto undo;
	}
	return 0;
undo:
	for (uint32_t s = 0; s < n; s++) {
		snprintf(sub, sizeof(sub), "%s/%u", tmp, s);
		rmdir(sub);
	}
	rmdir(tmp);
	return rc;
}

int
store_file_create(const struct fake_cpaths *cp, daos_obj_id_t oid)
{
	char path[PATH_MAX];
	int  fd, rc = store_obj_path(cp, oid, path, sizeof(path));

	if (rc)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void
rm_dir_object(const char *path)
{
	char           sub[PATH_MAX + 300], ent[PATH_MAX + 600];
	DIR           *d = opendir(path), *sd;
	struct dirent *de, *se;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		sd = opendir(sub);
		if (sd) {
			while ((se = readdir(sd)) != NULL) {
				if (se->d_name[0] == '.')
					continue;
				snprintf(ent, sizeof(ent), "%s/%s", sub, se->d_name);
				unlink(ent);
			}
			closedir(sd);
		}
		rmdir(sub);
	}
	closedir(d);
	rmdir(path);
}

int
store_obj_punch(const struct fake_cpaths *cp, daos_obj_id_t oid)
{
	char        path[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	int         rc = store_obj_path(cp, oid, path, sizeof(path));

	if (rc)
		return rc;
	if (lstat(path, &st) != 0)
		return 0; /* never written, or punched already */
	if (S_ISREG(st.st_mode)) {
		/* open handles elsewhere see an empty object, as after a DAOS punch */
		if (truncate(path, 0) != 0 && errno != ENOENT)
			return errno;
		if (unlink(path) != 0 && errno != ENOENT)
			return errno;
		return 0;
	}
	rc = tmp_path(cp, "p", tmp, sizeof(tmp));
	if (rc)
		return rc;
	if (rename(path, tmp) != 0)
		return errno == ENOENT ? 0 : errno;
	rm_dir_object(tmp);
	return 0;
}

static bool
is_key(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == FAKE_KEY_LEN;
}

int
store_dir_count(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t stop_at, uint32_t *nr)
{
	char           path[PATH_MAX];
	uint32_t       n = 0;
	DIR           *d;
	struct dirent *de;

	for (uint32_t s = 0; s < store_oid_shards(dir); s++) {
		int rc = shard_path(cp, dir, s, path, sizeof(path));

		if (rc)
			return rc;
		d = opendir(path);
		if (d == NULL) {
			if (errno == ENOENT || errno == ENOTDIR)
				continue; /* a punched object: no entries */
			return errno;
		}
		while ((de = readdir(d)) != NULL) {
			if (is_key(de->d_name))
				n++;
			if (stop_at && n >= stop_at)
				break;
		}
		closedir(d);
		if (stop_at && n >= stop_at)
			break;
	}
	*nr = n;
	return 0;
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

int
store_shard_mtime(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t shard,
		  struct timespec *mtime)
{
	char        path[PATH_MAX];
	struct stat st;
	int         rc = shard_path(cp, dir, shard, path, sizeof(path));

	if (rc)
		return rc;
	if (stat(path, &st) != 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return errno;
		memset(mtime, 0, sizeof(*mtime)); /* a punched object: empty, never written */
		return 0;
	}
	*mtime = st.st_mtim;
	return 0;
}

int
store_shard_keys(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t shard,
		 char (**keys)[FAKE_KEY_LEN + 1], uint32_t *n, struct timespec *mtime)
{
	char path[PATH_MAX];
	char (*arr)[FAKE_KEY_LEN + 1] = NULL;
	uint32_t       cnt = 0, cap = 0;
	DIR           *d;
	struct dirent *de;
	int            rc;

	rc = store_shard_mtime(cp, dir, shard, mtime);
	if (rc == 0)
		rc = shard_path(cp, dir, shard, path, sizeof(path));
	if (rc)
		return rc;
	d = opendir(path);
	if (d == NULL) {
		if (errno != ENOENT && errno != ENOTDIR)
			return errno;
		*keys = NULL; /* a punched object lists nothing */
		*n    = 0;
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (!is_key(de->d_name))
			continue;
		if (cnt == cap) {
			void *p;

			cap = cap ? cap * 2 : 64;
			p   = realloc(arr, cap * sizeof(*arr));
			if (p == NULL) {
				closedir(d);
				free(arr);
				return ENOMEM;
			}
			arr = p;
		}
		memcpy(arr[cnt++], de->d_name, FAKE_KEY_LEN + 1);
	}
	closedir(d);
	if (cnt)
		qsort(arr, cnt, sizeof(*arr), cmp_key);
	*keys = arr;
	*n    = cnt;
	return 0;
}

int
store_dir_mtime(const struct fake_cpaths *cp, daos_obj_id_t dir, struct timespec *mtime)
{
	struct timespec best = {0, 0}, t;

	for (uint32_t s = 0; s < store_oid_shards(dir); s++) {
		int rc = store_shard_mtime(cp, dir, s, &t);

		if (rc)
			return rc;
		if (t.tv_sec > best.tv_sec || (t.tv_sec == best.tv_sec && t.tv_nsec > best.tv_nsec))
			best = t;
	}
	*mtime = best;
	return 0;
}
