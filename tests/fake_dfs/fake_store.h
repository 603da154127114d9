/*
 * Object store of the test double (part of libdfs.so): how DFS objects live in a container
 * directory.  Everything is named by object ids or name hashes, never by DFS names:
 *
 *   CONT/objs/<oid>                    regular file: the bytes of the file (sparse)
 *   CONT/objs/<oid>/<shard>/<key>      directory: one entry file per name, hashed over shards
 *   CONT/tmp/                          staging area for atomic creation (link(2)/rename(2))
 *
 * <oid> = 32 hex digits (oid.hi, oid.lo); oid.hi = type << 56 | shards << 32 | random.
 * <key> = 32 hex digits of two 64-bit hashes of the name; shard = first hash % shards;
 * a directory lists its entries shard by shard in key order ("hash order").
 * An entry file holds a packed struct fake_entry_disk followed by the name and, for a
 * symlink, its target.  control.py writes the same layout (keep them in sync).
 */
#ifndef FAKE_STORE_H
#define FAKE_STORE_H

#include "fake_internal.h"

#define FAKE_OID_DIR  1u
#define FAKE_OID_FILE 2u
#define FAKE_OID_LINK 3u
#define FAKE_KEY_LEN  32 /* hex digits of an entry key */

struct __attribute__((packed)) fake_entry_disk {
	char     magic[4]; /* "FDE1" */
	uint32_t mode;
	uint64_t oid_lo;
	uint64_t oid_hi;
	uint64_t chunk_size;
	uint32_t oclass;
	uint32_t uid;
	uint32_t gid;
	uint32_t name_len;
	uint32_t value_len;
	uint32_t reserved;
	int64_t  ctime_sec;
	int64_t  ctime_nsec;
};
_Static_assert(sizeof(struct fake_entry_disk) == 72, "entry header layout (control.py)");

struct fake_entry {
	mode_t        mode;
	daos_obj_id_t oid;
	uint64_t      chunk_size;
	uint32_t      oclass;
	uint32_t      uid, gid;
	int64_t       ctime_sec, ctime_nsec;
	char          name[NAME_MAX + 1];
	char          value[PATH_MAX]; /* symlink target ("" otherwise) */
};

/* container paths */
struct fake_cpaths {
	char objs[PATH_MAX];
	char tmp[PATH_MAX];
};

void          store_key(const char *name, char key[FAKE_KEY_LEN + 1], uint64_t *h1);
daos_obj_id_t store_new_oid(unsigned type, uint32_t shards);
uint32_t      store_oid_shards(daos_obj_id_t oid);
int store_obj_path(const struct fake_cpaths *cp, daos_obj_id_t oid, char *out, size_t len);

/* all return 0 or a positive errno */
int store_entry_get(const struct fake_cpaths *cp, daos_obj_id_t dir, const char *name,
		    struct fake_entry *e); /* ENOENT */
int store_entry_get_key(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t shard,
			const char *key, struct fake_entry *e);
/* insert atomically; EEXIST if the name exists and !replace */
int store_entry_put(const struct fake_cpaths *cp, daos_obj_id_t dir, const struct fake_entry *e,
		    bool replace);
int store_entry_del(const struct fake_cpaths *cp, daos_obj_id_t dir, const char *name);

int store_dir_create(const struct fake_cpaths *cp, daos_obj_id_t oid);
int store_file_create(const struct fake_cpaths *cp, daos_obj_id_t oid);
/* punch an object: a file is emptied then unlinked, a directory object is deleted */
int store_obj_punch(const struct fake_cpaths *cp, daos_obj_id_t oid);
/* number of entries of a directory, stopping early at "stop_at" (0 = count all) */
int store_dir_count(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t stop_at,
		    uint32_t *nr);
/* sorted keys of one shard (malloc'ed array of FAKE_KEY_LEN+1 strings) and the shard's mtime */
int store_shard_keys(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t shard,
		     char (**keys)[FAKE_KEY_LEN + 1], uint32_t *n, struct timespec *mtime);
int store_shard_mtime(const struct fake_cpaths *cp, daos_obj_id_t dir, uint32_t shard,
		      struct timespec *mtime);
/* latest mtime over the shards of a directory */
int store_dir_mtime(const struct fake_cpaths *cp, daos_obj_id_t dir, struct timespec *mtime);

#endif /* FAKE_STORE_H */
