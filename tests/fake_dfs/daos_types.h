/*
 * Types, constants and prototypes of the DAOS client API (libdaos.so.2 + libdfs.so) as far as
 * the test double implements it, as one DAOS release has them: FAKE_DAOS_VERSION (build.py
 * --version; 20200 = 2.2.0 ... 20800 = 2.8.0, the default).  Layouts that differ between releases
 * follow that release's daos_fs.h / daos_event.h; tests/test_daos_headers.py compiles this header
 * beside the real headers of 2.2.0, 2.4.2, 2.6.4 and 2.8.0 and compares prototypes, layouts,
 * constants and DER codes.  The _Static_asserts below keep the x86_64 sizes in view.
 */
#ifndef FAKE_DAOS_TYPES_H
#define FAKE_DAOS_TYPES_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef FAKE_DAOS_VERSION
#define FAKE_DAOS_VERSION 20800
#endif

/* ---------------------------------------------------------------- scalar types */
typedef uint64_t daos_size_t;
typedef uint64_t daos_off_t;
typedef uint64_t daos_epoch_t;
typedef uint32_t daos_oclass_id_t;

typedef struct {
	uint64_t cookie; /* 0 == DAOS_HDL_INVAL */
} daos_handle_t;

typedef struct {
	uint64_t lo;
	uint64_t hi;
} daos_obj_id_t;

/* gurt/types.h */
typedef struct {
	void  *iov_buf;     /* buffer address */
	size_t iov_buf_len; /* buffer length */
	size_t iov_len;     /* data length */
} d_iov_t;

typedef struct {
	uint32_t sg_nr;
	uint32_t sg_nr_out;
	d_iov_t *sg_iovs;
} d_sg_list_t;

#define DAOS_ANCHOR_BUF_MAX 104
typedef struct {
	uint16_t da_type; /* enum daos_anchor_type_t */
	uint16_t da_shard;
	uint32_t da_flags;
	uint64_t da_sub_anchors;
	uint8_t  da_buf[DAOS_ANCHOR_BUF_MAX];
} daos_anchor_t;

enum {
	DAOS_ANCHOR_TYPE_ZERO = 0,
	DAOS_ANCHOR_TYPE_HKEY = 1,
	DAOS_ANCHOR_TYPE_KEY  = 2,
	DAOS_ANCHOR_TYPE_EOF  = 3,
};
/* daos/object.h: anchor pinned to one redundancy group (set by daos_obj_anchor_set/split) */
#define DIOF_TO_SPEC_GROUP 0x20

typedef struct daos_event {
	int ev_error; /* -DER_* for daos_* calls, positive errno for dfs_read/dfs_write */
	struct {
#if FAKE_DAOS_VERSION >= 20200
		uint64_t space[20];
#else
		uint64_t space[19]; /* daos_event.h of 2.0 */
#endif
	} ev_private;
	uint64_t ev_debug;
} daos_event_t;

/* opaque to users */
typedef struct dfs     dfs_t;
typedef struct dfs_obj dfs_obj_t;
typedef struct daos_pool_info daos_pool_info_t; /* callers pass NULL */
typedef struct daos_cont_info daos_cont_info_t; /* callers pass NULL */
typedef struct daos_prop      daos_prop_t;

#define DAOS_CONT_HINT_MAX_LEN 128
/* daos_fs.h: 40 bytes up to 2.2; 2.4 added the dir/file classes and hints (176 bytes) */
typedef struct {
	uint64_t         da_id;
	daos_size_t      da_chunk_size;
	daos_oclass_id_t da_oclass_id;
	daos_prop_t     *da_props;
	uint32_t         da_mode;
#if FAKE_DAOS_VERSION >= 20400
	daos_oclass_id_t da_dir_oclass_id;
	daos_oclass_id_t da_file_oclass_id;
	char             da_hints[DAOS_CONT_HINT_MAX_LEN];
#endif
} dfs_attr_t;

/* daos_fs.h: 16 bytes up to 2.4; 2.6.0 added the dir/file classes (24), 2.6.4 doi_oid (40) */
typedef struct {
	daos_oclass_id_t doi_oclass_id;
	daos_size_t      doi_chunk_size;
#if FAKE_DAOS_VERSION >= 20600
	daos_oclass_id_t doi_dir_oclass_id;
	daos_oclass_id_t doi_file_oclass_id;
#endif
#if FAKE_DAOS_VERSION >= 20604
	daos_obj_id_t doi_oid;
#endif
} dfs_obj_info_t;

/* ---------------------------------------------------------------- constants */
#define DAOS_EQ_WAIT          -1
#define DAOS_EQ_NOWAIT        0
#define DAOS_EQ_DESTROY_FORCE 1

#define DAOS_PC_RO 1u
#define DAOS_PC_RW 2u
#define DAOS_PC_EX 4u

#define DAOS_COO_RO 1u
#define DAOS_COO_RW 2u

#define DFS_MAX_NAME           NAME_MAX
#define DFS_MAX_PATH           PATH_MAX
#define DFS_DEFAULT_CHUNK_SIZE 1048576
#define DFS_MAX_FSIZE          (~0ULL)
#define DFS_RDONLY             O_RDONLY
#define DFS_RDWR               O_RDWR
#define DFS_RELAXED            0
#define DFS_BALANCED           4

/* enum daos_errno; the values come from der.def (stable, append-only since 2.0) */
enum daos_errno {
	DER_SUCCESS = 0,
#define D(name, value) DER_##name = value,
#include "der.def"
#undef D
};

/* ---------------------------------------------------------------- layout checks */
_Static_assert(sizeof(daos_handle_t) == 8, "daos_handle_t");
_Static_assert(sizeof(daos_obj_id_t) == 16, "daos_obj_id_t");
_Static_assert(offsetof(daos_obj_id_t, lo) == 0 && offsetof(daos_obj_id_t, hi) == 8, "oid");
_Static_assert(sizeof(d_iov_t) == 24, "d_iov_t");
_Static_assert(offsetof(d_iov_t, iov_buf) == 0 && offsetof(d_iov_t, iov_buf_len) == 8 &&
		   offsetof(d_iov_t, iov_len) == 16,
	       "d_iov_t fields");
_Static_assert(sizeof(d_sg_list_t) == 16, "d_sg_list_t");
_Static_assert(offsetof(d_sg_list_t, sg_nr) == 0 && offsetof(d_sg_list_t, sg_nr_out) == 4 &&
		   offsetof(d_sg_list_t, sg_iovs) == 8,
	       "d_sg_list_t fields");
_Static_assert(sizeof(daos_anchor_t) == 120, "daos_anchor_t");
_Static_assert(offsetof(daos_anchor_t, da_type) == 0 && offsetof(daos_anchor_t, da_shard) == 2 &&
		   offsetof(daos_anchor_t, da_flags) == 4 &&
		   offsetof(daos_anchor_t, da_sub_anchors) == 8 &&
		   offsetof(daos_anchor_t, da_buf) == 16,
	       "daos_anchor_t fields");
_Static_assert(sizeof(daos_event_t) == (FAKE_DAOS_VERSION >= 20200 ? 176 : 168), "daos_event_t");
_Static_assert(offsetof(daos_event_t, ev_error) == 0 && offsetof(daos_event_t, ev_private) == 8,
	       "daos_event_t fields");
_Static_assert(offsetof(dfs_attr_t, da_id) == 0 && offsetof(dfs_attr_t, da_chunk_size) == 8 &&
		   offsetof(dfs_attr_t, da_oclass_id) == 16 && offsetof(dfs_attr_t, da_props) == 24 &&
		   offsetof(dfs_attr_t, da_mode) == 32,
	       "dfs_attr_t fields");
#if FAKE_DAOS_VERSION >= 20400
_Static_assert(sizeof(dfs_attr_t) == 176 && offsetof(dfs_attr_t, da_dir_oclass_id) == 36 &&
		   offsetof(dfs_attr_t, da_file_oclass_id) == 40 &&
		   offsetof(dfs_attr_t, da_hints) == 44,
	       "dfs_attr_t (2.4+)");
#else
_Static_assert(sizeof(dfs_attr_t) == 40, "dfs_attr_t (< 2.4)");
#endif
_Static_assert(offsetof(dfs_obj_info_t, doi_chunk_size) == 8, "dfs_obj_info_t fields");
#if FAKE_DAOS_VERSION >= 20604
_Static_assert(sizeof(dfs_obj_info_t) == 40 && offsetof(dfs_obj_info_t, doi_oid) == 24,
	       "dfs_obj_info_t (2.6.4+)");
#elif FAKE_DAOS_VERSION >= 20600
_Static_assert(sizeof(dfs_obj_info_t) == 24, "dfs_obj_info_t (2.6.0)");
#else
_Static_assert(sizeof(dfs_obj_info_t) == 16, "dfs_obj_info_t (< 2.6)");
#endif
_Static_assert(sizeof(struct dirent) == 280, "glibc struct dirent");
_Static_assert(sizeof(struct stat) == 144, "glibc struct stat");
_Static_assert(DER_NO_PERM == 1001 && DER_NONEXIST == 1005 && DER_UNINIT == 1015 &&
		   DER_IO == 2001 && DER_AGENT_COMM == 2034,
	       "DER values");

/* the API is exported; everything else is built with -fvisibility=hidden */
#pragma GCC visibility push(default)

/* ---------------------------------------------------------------- libdaos (negative -DER_*) */
int daos_init(void);
int daos_fini(void);
int daos_reinit(void); /* >= 2.6.4 (build.py with_reinit) */

int daos_pool_connect2(const char *pool, const char *sys, unsigned int flags, daos_handle_t *poh,
		       daos_pool_info_t *info, daos_event_t *ev);
int daos_pool_connect(const char *pool, const char *sys, unsigned int flags, daos_handle_t *poh,
		      daos_pool_info_t *info, daos_event_t *ev); /* weak alias, as 2.2+ */
int daos_pool_disconnect(daos_handle_t poh, daos_event_t *ev);
int daos_cont_open2(daos_handle_t poh, const char *cont, unsigned int flags, daos_handle_t *coh,
		    daos_cont_info_t *info, daos_event_t *ev);
int daos_cont_open(daos_handle_t poh, const char *cont, unsigned int flags, daos_handle_t *coh,
		   daos_cont_info_t *info, daos_event_t *ev); /* weak alias, as 2.2+ */
int daos_cont_close(daos_handle_t coh, daos_event_t *ev);
int daos_pool_local2global(daos_handle_t poh, d_iov_t *glob);
int daos_pool_global2local(d_iov_t glob, daos_handle_t *poh);
int daos_cont_local2global(daos_handle_t coh, d_iov_t *glob);
int daos_cont_global2local(daos_handle_t poh, d_iov_t glob, daos_handle_t *coh);

int daos_eq_create(daos_handle_t *eqh);
int daos_eq_destroy(daos_handle_t eqh, int flags);
int daos_eq_poll(daos_handle_t eqh, int wait_running, int64_t timeout, unsigned int nevents,
		 daos_event_t **events);
int daos_event_init(daos_event_t *ev, daos_handle_t eqh, daos_event_t *parent);
int daos_event_fini(daos_event_t *ev);
int daos_event_test(struct daos_event *ev, int64_t timeout, bool *flag);
int daos_event_abort(daos_event_t *ev);

int daos_oclass_name2id(const char *name);

/* libgurt in real DAOS (a DT_NEEDED of libdaos); take the negative code */
const char *d_errstr(int errnum);
const char *d_errdesc(int errnum);

/* ---------------------------------------------------------------- libdfs (0 / positive errno) */
int dfs_init(void);
int dfs_fini(void);
int dfs_connect(const char *pool, const char *sys, const char *cont, int flags, dfs_attr_t *attr,
		dfs_t **dfs);
int dfs_disconnect(dfs_t *dfs);
int dfs_mount(daos_handle_t poh, daos_handle_t coh, int flags, dfs_t **dfs);
int dfs_umount(dfs_t *dfs);
int dfs_local2global(dfs_t *dfs, d_iov_t *glob);
int dfs_global2local(daos_handle_t poh, daos_handle_t coh, int flags, d_iov_t glob, dfs_t **dfs);
int dfs_local2global_all(dfs_t *dfs, d_iov_t *glob);
int dfs_global2local_all(int flags, d_iov_t glob, dfs_t **dfs);

int dfs_lookup(dfs_t *dfs, const char *path, int flags, dfs_obj_t **obj, mode_t *mode,
	       struct stat *stbuf);
int dfs_lookup_rel(dfs_t *dfs, dfs_obj_t *parent, const char *name, int flags, dfs_obj_t **obj,
		   mode_t *mode, struct stat *stbuf);
int dfs_open(dfs_t *dfs, dfs_obj_t *parent, const char *name, mode_t mode, int flags,
	     daos_oclass_id_t cid, daos_size_t chunk_size, const char *value, dfs_obj_t **obj);
int dfs_dup(dfs_t *dfs, dfs_obj_t *obj, int flags, dfs_obj_t **new_obj);
int dfs_release(dfs_obj_t *obj);
int dfs_read(dfs_t *dfs, dfs_obj_t *obj, d_sg_list_t *sgl, daos_off_t off, daos_size_t *read_size,
	     daos_event_t *ev);
int dfs_write(dfs_t *dfs, dfs_obj_t *obj, d_sg_list_t *sgl, daos_off_t off, daos_event_t *ev);
int dfs_get_size(dfs_t *dfs, dfs_obj_t *obj, daos_size_t *size);
int dfs_punch(dfs_t *dfs, dfs_obj_t *obj, daos_off_t offset, daos_size_t len);
int dfs_stat(dfs_t *dfs, dfs_obj_t *parent, const char *name, struct stat *stbuf);
int dfs_ostat(dfs_t *dfs, dfs_obj_t *obj, struct stat *stbuf);
int dfs_readdir(dfs_t *dfs, dfs_obj_t *obj, daos_anchor_t *anchor, uint32_t *nr,
		struct dirent *dirs);
int dfs_readdirplus(dfs_t *dfs, dfs_obj_t *obj, daos_anchor_t *anchor, uint32_t *nr,
		    struct dirent *dirs, struct stat *stbufs);
int dfs_obj_anchor_split(dfs_obj_t *obj, uint32_t *nr, daos_anchor_t *anchors);
int dfs_obj_anchor_set(dfs_obj_t *obj, uint32_t index, daos_anchor_t *anchor);
int dfs_mkdir(dfs_t *dfs, dfs_obj_t *parent, const char *name, mode_t mode, daos_oclass_id_t cid);
int dfs_remove(dfs_t *dfs, dfs_obj_t *parent, const char *name, bool force, daos_obj_id_t *oid);
int dfs_move(dfs_t *dfs, dfs_obj_t *parent, const char *name, dfs_obj_t *new_parent,
	     const char *new_name, daos_obj_id_t *oid);
int dfs_sync(dfs_t *dfs);
int dfs_get_mode(dfs_obj_t *obj, mode_t *mode);
int dfs_get_chunk_size(dfs_obj_t *obj, daos_size_t *chunk_size);
int dfs_obj2id(dfs_obj_t *obj, daos_obj_id_t *oid);
int dfs_obj_get_info(dfs_t *dfs, dfs_obj_t *obj, dfs_obj_info_t *info);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* FAKE_DAOS_TYPES_H */
