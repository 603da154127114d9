/*
 * libdfs.so test double: directory listing and anchors.
 *
 * A directory's entries are spread over its shards (1 unless the container / dfs_mkdir asked
 * for more, see fake_store.h).  An anchor walks shard after shard in key order (hash order, not
 * name order): da_shard = current shard, da_type ZERO = start of that shard, KEY = after the key
 * kept in da_buf, EOF = done; da_flags DIOF_TO_SPEC_GROUP (dfs_obj_anchor_set/split) pins the
 * anchor to its one shard, as DAOS does for per-shard parallel listing.
 */
#include "fake_dfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool
ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/*
 * Sorted keys of one shard in obj->lc.  A listing is reused only to continue an iteration
 * (fresh == false) and only while the shard's mtime is unchanged; every iteration of a shard
 * starts from a new listing (mtime granularity is coarse).
 */
static int
shard_listing(dfs_t *dfs, dfs_obj_t *obj, uint32_t shard, bool fresh)
{
	struct timespec mt;
	int             rc;

	if (!fresh && obj->lc.valid && obj->lc.shard == shard &&
	    store_shard_mtime(&dfs->cp, obj->oid, shard, &mt) == 0 && ts_eq(mt, obj->lc.mtime))
		return 0;
	free(obj->lc.keys);
	obj->lc.keys  = NULL;
	obj->lc.n     = 0;
	obj->lc.valid = false;
	rc            = store_shard_keys(&dfs->cp, obj->oid, shard, &obj->lc.keys, &obj->lc.n,
					 &obj->lc.mtime);
	if (rc == 0) {
		obj->lc.valid = true;
		obj->lc.shard = shard;
	}
	return rc;
}

/* index of the first key > last */
static uint32_t
upper_bound(char (*keys)[FAKE_KEY_LEN + 1], uint32_t n, const char *last)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (strcmp(keys[mid], last) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
readdir_int(const char *op, dfs_t *dfs, dfs_obj_t *obj, daos_anchor_t *anchor, uint32_t *nr,
	    struct dirent *dirs, struct stat *stbufs)
{
	uint32_t count = 0, nshards;
	bool     pinned;
	int      rc = fake_dfs_gate(op, NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (obj_check(obj) || !S_ISDIR(obj->mode))
		return ENOTDIR;
	if (nr == NULL)
		return EINVAL;
	if (*nr == 0)
		return 0;
	if (dirs == NULL || anchor == NULL)
		return EINVAL;
	nshards = store_oid_shards(obj->oid);
	pinned  = (anchor->da_flags & DIOF_TO_SPEC_GROUP) != 0;
	if (anchor->da_type != DAOS_ANCHOR_TYPE_EOF && anchor->da_shard >= nshards)
		return EINVAL; /* anchor set to a shard the directory does not have */

	/* concurrent listings of one object (other anchors, other threads) share obj->lc */
	pthread_mutex_lock(&obj->lc_lock);
	while (count < *nr && anchor->da_type != DAOS_ANCHOR_TYPE_EOF) {
		uint32_t shard = anchor->da_shard, pos = 0;

		rc = shard_listing(dfs, obj, shard, anchor->da_type == DAOS_ANCHOR_TYPE_ZERO);
		if (rc)
			goto out;
		if (anchor->da_type == DAOS_ANCHOR_TYPE_KEY) {
			anchor->da_buf[FAKE_KEY_LEN] = 0;
			pos = upper_bound(obj->lc.keys, obj->lc.n, (const char *)anchor->da_buf);
		}
		for (; pos < obj->lc.n && count < *nr; pos++) {
			struct fake_entry e;

			rc = store_entry_get_key(&dfs->cp, obj->oid, shard, obj->lc.keys[pos], &e);
			if (rc == ENOENT)
				continue; /* removed since the listing */
			if (rc)
				goto out;
			strcpy(dirs[count].d_name, e.name);
			if (stbufs) {
				rc = fill_stat(dfs, &e, &stbufs[count]);
				if (rc)
					goto out;
			}
			anchor->da_type = DAOS_ANCHOR_TYPE_KEY;
			memcpy(anchor->da_buf, obj->lc.keys[pos], FAKE_KEY_LEN + 1);
			count++;
		}
		if (pos >= obj->lc.n) { /* shard done */
			if (pinned || shard + 1 >= nshards) {
				anchor->da_type = DAOS_ANCHOR_TYPE_EOF;
			} else {
				anchor->da_shard = (uint16_t)(shard + 1);
				anchor->da_type  = DAOS_ANCHOR_TYPE_ZERO;
			}
		}
	}
	rc  = 0;
	*nr = count;
	fake_count(stbufs ? FC_readdirplus : FC_readdir, 1);
	fake_count(FC_readdir_entries, count);
out:
	pthread_mutex_unlock(&obj->lc_lock);
	return rc;
}

#ifndef OMIT_dfs_readdir
int
dfs_readdir(dfs_t *dfs, dfs_obj_t *obj, daos_anchor_t *anchor, uint32_t *nr, struct dirent *dirs)
{
	return readdir_int("dfs_readdir", dfs, obj, anchor, nr, dirs, NULL);
}
#endif

#ifndef OMIT_dfs_readdirplus
int
dfs_readdirplus(dfs_t *dfs, dfs_obj_t *obj, daos_anchor_t *anchor, uint32_t *nr,
		struct dirent *dirs, struct stat *stbufs)
{
	if (stbufs == NULL)
		return EINVAL;
	return readdir_int("dfs_readdirplus", dfs, obj, anchor, nr, dirs, stbufs);
}
#endif

static void
anchor_pin(daos_anchor_t *anchor, uint32_t index)
{
	memset(anchor, 0, sizeof(*anchor));
	anchor->da_type  = DAOS_ANCHOR_TYPE_ZERO;
	anchor->da_shard = (uint16_t)index; /* group size 1 */
	anchor->da_flags = DIOF_TO_SPEC_GROUP;
}

#ifndef OMIT_dfs_obj_anchor_split
int
dfs_obj_anchor_split(dfs_obj_t *obj, uint32_t *nr, daos_anchor_t *anchors)
{
	uint32_t n;
	int      rc = fake_dfs_gate("dfs_obj_anchor_split", NULL, NULL);

	if (rc)
		return rc;
	if (obj_check(obj) || nr == NULL || !S_ISDIR(obj->mode))
		return EINVAL;
	n = store_oid_shards(obj->oid);
	/* "TBD - support more than per shard iteration": only 0 or the recommended number */
	if (*nr != 0 && *nr != n)
		return EINVAL;
	*nr = n;
	if (anchors)
		for (uint32_t i = 0; i < n; i++)
			anchor_pin(&anchors[i], i);
	fake_count(FC_anchor_split, 1);
	return 0;
}
#endif

#ifndef OMIT_dfs_obj_anchor_set
int
dfs_obj_anchor_set(dfs_obj_t *obj, uint32_t index, daos_anchor_t *anchor)
{
	int rc = fake_dfs_gate("dfs_obj_anchor_set", NULL, NULL);

	if (rc)
		return rc;
	if (obj_check(obj) || !S_ISDIR(obj->mode) || anchor == NULL)
		return EINVAL;
	/* like DAOS, the index is not checked here; listing with a bad one fails (EINVAL) */
	anchor_pin(anchor, index > 0xffff ? 0xffff : index);
	fake_count(FC_anchor_set, 1);
	return 0;
}
#endif
