/*
 * libdfs.so test double: file I/O.  dfs_read/dfs_write with an event only queue the operation
 * (fake_events.c performs it inside daos_eq_poll / daos_event_test); ev_error then holds a
 * positive errno, as libdfs converts it (daos_event_errno_rc).
 */
#include "fake_dfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct io_op {
	struct fake_op base; /* first: events.c frees it as a fake_op */
	bool           is_read;
	bool           short_read;
	int            fd; /* dup of the object's fd: valid even if the object is released */
	daos_off_t     off;
	daos_size_t   *read_size;
	uint32_t       nr;
	d_iov_t        iovs[]; /* copy of the sgl's iovs (the buffers are the caller's) */
};

static daos_size_t
sgl_bytes(const d_sg_list_t *sgl)
{
	daos_size_t n = 0;

	if (sgl)
		for (uint32_t i = 0; i < sgl->sg_nr; i++)
			n += sgl->sg_iovs[i].iov_len;
	return n;
}

/* read up to "want" bytes into the iovs; *got = bytes read (short at EOF) */
static int
do_read(int fd, const d_iov_t *iovs, uint32_t nr, daos_off_t off, daos_size_t want,
	daos_size_t *got)
{
	daos_size_t total = 0;

	for (uint32_t i = 0; i < nr && total < want; i++) {
		char  *buf = iovs[i].iov_buf;
		size_t len = iovs[i].iov_len, done = 0;

		if (len > want - total)
			len = (size_t)(want - total);
		while (done < len) {
			ssize_t r = pread(fd, buf + done, len - done, (off_t)(off + total + done));

			if (r < 0) {
				if (errno == EINTR)
					continue;
				return errno == EBADF ? EINVAL : EIO;
			}
			if (r == 0)
				break; /* EOF */
			done += (size_t)r;
		}
		total += done;
		if (done < len)
			break;
	}
	*got = total;
	fake_count(FC_bytes_read, total);
	return 0;
}

static int
do_write(int fd, const d_iov_t *iovs, uint32_t nr, daos_off_t off)
{
	daos_size_t total = 0;

	for (uint32_t i = 0; i < nr; i++) {
		const char *buf = iovs[i].iov_buf;
		size_t      len = iovs[i].iov_len, done = 0;

		while (done < len) {
			ssize_t w = pwrite(fd, buf + done, len - done, (off_t)(off + total + done));

			if (w < 0) {
				if (errno == EINTR)
					continue;
				return (errno == ENOSPC || errno == EDQUOT) ? ENOSPC : EIO;
			}
			done += (size_t)w;
		}
		total += len;
	}
	fake_count(FC_bytes_written, total);
	return 0;
}

static int
io_exec(struct fake_op *base)
{
	struct io_op *op   = (struct io_op *)base;
	daos_size_t   want = 0, got;
	int           rc;

	if (base->rc) /* injected fault: nothing is transferred */
		return base->rc;
	if (!op->is_read)
		return do_write(op->fd, op->iovs, op->nr, op->off);
	for (uint32_t i = 0; i < op->nr; i++)
		want += op->iovs[i].iov_len;
	if (op->short_read)
		want /= 2;
	rc = do_read(op->fd, op->iovs, op->nr, op->off, want, &got);
	if (rc == 0)
		*op->read_size = got;
	return rc;
}

static void
io_destroy(struct fake_op *base)
{
	struct io_op *op = (struct io_op *)base;

	if (op->fd >= 0)
		close(op->fd);
	free(op);
}

static int
io_launch(dfs_obj_t *obj, const d_sg_list_t *sgl, daos_off_t off, daos_size_t *read_size,
	  daos_event_t *ev, int fault, bool short_read, uint64_t latency_us, bool is_read)
{
	uint32_t      nr = sgl ? sgl->sg_nr : 0;
	struct io_op *op;
	bool          unqueued;
	int           rc = fake_launch_fault(is_read ? "dfs_read" : "dfs_write", ev, &unqueued);

	if (rc || unqueued)
		return rc;
	op = calloc(1, sizeof(*op) + nr * sizeof(d_iov_t));
	if (op == NULL)
		return ENOMEM;
	op->fd = fcntl(obj->fd, F_DUPFD_CLOEXEC, 0);
	if (op->fd < 0) {
		free(op);
		return EBADF;
	}
	op->base.exec     = io_exec;
	op->base.destroy  = io_destroy;
	op->base.rc       = fault;
	op->base.errno_rc = true;
	op->base.ready_ns = fake_now_ns() + latency_us * 1000ull;
	op->is_read       = is_read;
	op->short_read    = short_read;
	op->off           = off;
	op->read_size     = read_size;
	op->nr            = nr;
	if (nr)
		memcpy(op->iovs, sgl->sg_iovs, nr * sizeof(d_iov_t));
	rc = fake_ev_launch(ev, &op->base);
	if (rc) {
		io_destroy(&op->base);
		return launch_errno(rc);
	}
	return 0;
}

#ifndef OMIT_dfs_read
int
dfs_read(dfs_t *dfs, dfs_obj_t *obj, d_sg_list_t *sgl, daos_off_t off, daos_size_t *read_size,
	 daos_event_t *ev)
{
	uint64_t    latency;
	bool        short_read;
	daos_size_t want, got;
	int         rc, fault;

	fault = fake_dfs_gate("dfs_read", &short_read, ev ? &latency : NULL);
	if (fault == EBADF && fake_forked_without_reinit())
		return EBADF;
	if (dfs_check(dfs) || obj_check(obj) || !S_ISREG(obj->mode))
		return EINVAL;
	if (sgl == NULL || read_size == NULL || (sgl->sg_nr && sgl->sg_iovs == NULL))
		return EINVAL;
	if ((obj->flags & O_ACCMODE) == O_WRONLY)
		return EPERM;
	fake_count(FC_read, 1);
	if (ev)
		return io_launch(obj, sgl, off, read_size, ev, fault, short_read, latency, true);
	if (fault)
		return fault;
	want = sgl_bytes(sgl);
	if (short_read)
		want /= 2;
	rc = do_read(obj->fd, sgl->sg_iovs, sgl->sg_nr, off, want, &got);
	if (rc == 0)
		*read_size = got;
	return rc;
}
#endif

#ifndef OMIT_dfs_write
int
dfs_write(dfs_t *dfs, dfs_obj_t *obj, d_sg_list_t *sgl, daos_off_t off, daos_event_t *ev)
{
	uint64_t latency;
	int      fault;

	fault = fake_dfs_gate("dfs_write", NULL, ev ? &latency : NULL);
	if (fault == EBADF && fake_forked_without_reinit())
		return EBADF;
	if (dfs_check(dfs))
		return EINVAL;
	if (dfs_writable(dfs))
		return EPERM;
	if (obj_check(obj) || !S_ISREG(obj->mode))
		return EINVAL;
	if ((obj->flags & O_ACCMODE) == O_RDONLY)
		return EPERM;
	if (sgl && sgl->sg_nr && sgl->sg_iovs == NULL)
		return EINVAL;
	if (!dfs->cont_rw)
		return EPERM; /* the server refuses (-DER_NO_PERM) */
	fake_count(FC_write, 1);
	if (ev)
		return io_launch(obj, sgl, off, NULL, ev, fault, false, latency, false);
	if (fault)
		return fault;
	if (sgl == NULL)
		return 0;
	return do_write(obj->fd, sgl->sg_iovs, sgl->sg_nr, off);
}
#endif

#ifndef OMIT_dfs_get_size
int
dfs_get_size(dfs_t *dfs, dfs_obj_t *obj, daos_size_t *size)
{
	struct stat st;
	int         rc = fake_dfs_gate("dfs_get_size", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs) || obj_check(obj) || !S_ISREG(obj->mode) || size == NULL)
		return EINVAL;
	fake_count(FC_get_size, 1);
	if (fstat(obj->fd, &st) != 0)
		return EIO;
	*size = (daos_size_t)st.st_size;
	return 0;
}
#endif

#ifndef OMIT_dfs_punch
int
dfs_punch(dfs_t *dfs, dfs_obj_t *obj, daos_off_t offset, daos_size_t len)
{
	struct stat st;
	daos_off_t  hi;
	int         rc = fake_dfs_gate("dfs_punch", NULL, NULL);

	if (rc)
		return rc;
	if (dfs_check(dfs))
		return EINVAL;
	if (dfs_writable(dfs))
		return EPERM;
	if (obj_check(obj) || !S_ISREG(obj->mode))
		return EINVAL;
	if ((obj->flags & O_ACCMODE) == O_RDONLY || !dfs->cont_rw)
		return EPERM;
	fake_count(FC_punch, 1);
	if (len == DFS_MAX_FSIZE) /* truncate */
		return ftruncate(obj->fd, (off_t)offset) == 0 ? 0 : EIO;
	if (fstat(obj->fd, &st) != 0)
		return EIO;
	if ((daos_off_t)st.st_size <= offset)
		return 0;
	hi = (offset + len < offset) ? DFS_MAX_FSIZE : offset + len;
	if ((daos_off_t)st.st_size <= hi)
		return ftruncate(obj->fd, (off_t)offset) == 0 ? 0 : EIO;
	/* a hole in the middle */
	if (fallocate(obj->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) != 0) {
		static const char zeros[65536];

		for (daos_off_t o = offset; o < hi;) {
			size_t  n = (hi - o) < sizeof(zeros) ? (size_t)(hi - o) : sizeof(zeros);
			ssize_t w = pwrite(obj->fd, zeros, n, (off_t)o);

			if (w <= 0)
				return EIO;
			o += (daos_off_t)w;
		}
	}
	return 0;
}
#endif
