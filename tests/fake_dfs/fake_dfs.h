/* Internal structures of the libdfs.so test double. */
#ifndef FAKE_DFS_H
#define FAKE_DFS_H

#include "fake_store.h"

#define DFS_MAGIC     0x31534644454b4146ull /* "FAKEDFS1" */
#define DFS_OBJ_MAGIC 0x314a424f4b4b4146ull

enum { DFS_NOT_MOUNTED = 0, DFS_MOUNT = 1, DFS_MOUNT_ALL = 2 };

struct hcache; /* cached pool/container handle of dfs_connect (fake_dfs_mnt.c) */

struct dfs_obj {
	uint64_t      magic;
	dfs_t        *dfs;
	daos_handle_t coh; /* the container handle it was opened through (open-object count) */
	daos_obj_id_t oid;
	daos_obj_id_t parent_oid;
	char          name[NAME_MAX + 1];
	mode_t        mode;
	int           flags;
	int           fd; /* S_IFREG: the object's bytes; -1 otherwise */
	uint64_t      chunk_size;
	uint32_t      oclass;
	char         *value; /* S_IFLNK */
	/* listing of one shard, reused while an iteration goes on (see readdir) */
	pthread_mutex_t lc_lock;
	struct {
		bool            valid;
		uint32_t        shard;
		struct timespec mtime;
		uint32_t        n;
		char (*keys)[FAKE_KEY_LEN + 1];
	} lc;
};

struct dfs {
	uint64_t           magic;
	int                mounted;
	uint64_t           init_gen; /* daos_init generation: stale after daos_fini */
	uint64_t           mnt_gen;  /* dfs_init generation (dfs_connect's cached handles) */
	int                amode;   /* O_RDONLY / O_RDWR */
	bool               cont_rw; /* container handle allows writes */
	bool               use_dtx; /* DFS_USE_DTX */
	daos_handle_t      poh, coh;
	struct hcache     *pool_ent, *cont_ent; /* dfs_connect: cached handles */
	struct fake_cpaths cp;
	uint32_t           dir_shards;
	char               pool_uuid[FAKE_UUID_LEN];
	char               cont_uuid[FAKE_UUID_LEN];
	struct dfs_obj     root;
};

/* fake_dfs_mnt.c */
bool dfs_lib_is_init(void);
int  dfs_check(dfs_t *dfs); /* 0 or EINVAL */
int  dfs_writable(dfs_t *dfs); /* 0 or EPERM */

void obj_init_lock(dfs_obj_t *obj);

/* fake_dfs_ns.c */
int  obj_check(dfs_obj_t *obj); /* 0 or EINVAL */
void obj_free(dfs_obj_t *obj);
int  fill_stat(dfs_t *dfs, const struct fake_entry *e, struct stat *st);
int  root_stat(dfs_t *dfs, struct stat *st);
int  check_name(const char *name);
/* map a -DER of the event layer to the errno a dfs call returns */
int  launch_errno(int der);

#endif /* FAKE_DFS_H */
