/* The physical-limit reader for workloads/bench_read.py.
 *
 * For each file: open(2), ONE read(2) of the whole file (looped only if the kernel returns
 * short) into a reused, 2 MiB-aligned per-thread buffer (posix_memalign + MADV_HUGEPAGE,
 * pre-faulted before timing), close(2). One pthread per requested thread; files are handed
 * out by an atomic counter. With -c every thread sums each file as little-endian uint64
 * words (a tail shorter than 8 bytes zero-padded), the same sum the Python arms compute
 * with numpy; the per-thread time spent in the sum is reported separately.
 *
 * usage: c_reader [-t THREADS] [-r RUNS] [-c] [-C] [-2] [-s SLOTS] ROOT LIST
 *   ROOT  the data set's directory; the reader chdir()s there and opens paths relative to
 *         it, so it walks the same path components as pydaos_torch (which opens relative
 *         to the container's directory) rather than a longer absolute path.
 *   LIST  one "SIZE<TAB>PATH" line per file, in the order the files are handed out.
 *   -c    checksum every file (inside the timed region).
 *   -C    cold: before each run (untimed) posix_fadvise(POSIX_FADV_DONTNEED) every file.
 *   -2    (diagnostic) open with openat2(ROOT, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS),
 *         the confined open of pydaos_torch's local backend, instead of open(2).
 *   -d    (diagnostic) keep the file's parent directory open per thread (opened once with
 *         openat2 RESOLVE_BENEATH from ROOT, reused while consecutive files share it) and open
 *         the last component with openat(dirfd, name, O_NOFOLLOW): still confined to ROOT, but
 *         a one-component walk. Index order is sorted, so consecutive files share a parent.
 *   -s N  (diagnostic) N slots of the largest file size in all, N / THREADS per thread, each
 *         thread filling its slots in turn: the footprint of a packed batch buffer (read_index
 *         with N files per call), instead of one small per-thread buffer that stays in the CPU
 *         cache. (Per-thread slots: a thread can never overwrite a file another one sums.)
 * Prints one JSON object per run on stdout (cpu_ns: the process's user + system time over the
 * run). Exit status 1 on any I/O error or short read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ALIGN (2u << 20)

static char **paths;
static uint64_t *sizes;
static size_t nfiles;
static int do_checksum, use_openat2, use_dircache, root_fd = -1;
static size_t slots = 0;       /* 0: one file-sized buffer per thread */
static size_t thread_slots;    /* -s: slots per thread */
static uint64_t slot_bytes;
static atomic_size_t next_file;

struct worker {
  pthread_t tid;
  char *buf;
  int dirfd;            /* -d: the open parent directory, or -1 */
  char dir[4096];       /* -d: its path relative to ROOT */
  uint64_t dir_opens;
  uint64_t files, bytes, read_calls, sum, chk_ns;
  int err;
  char errmsg[512];
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t checksum(const char *buf, uint64_t n) {
  const uint64_t *w = (const uint64_t *)buf; /* 8-byte aligned: buffers and slots are */
  uint64_t words = n / 8, s = 0;
  for (uint64_t i = 0; i < words; ++i) s += w[i];
  uint64_t tail = 0;
  for (uint64_t i = words * 8; i < n; ++i) tail |= (uint64_t)(unsigned char)buf[i] << (8 * (i - words * 8));
  return s + tail;
}

static int openat2_beneath(int dfd, const char *p, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return (int)syscall(SYS_openat2, dfd, p, &how, sizeof how);
}

static int open_file(struct worker *me, const char *p) {
  if (use_dircache) {
    const char *slash = strrchr(p, '/');
    size_t dlen = slash ? (size_t)(slash - p) : 0;
    if (dlen >= sizeof me->dir) return -1;
    if (me->dirfd < 0 || strlen(me->dir) != dlen || memcmp(me->dir, p, dlen) != 0) {
      if (me->dirfd >= 0 && me->dirfd != root_fd) close(me->dirfd);
      memcpy(me->dir, p, dlen);
      me->dir[dlen] = '\0';
      me->dirfd = dlen ? openat2_beneath(root_fd, me->dir, O_PATH | O_DIRECTORY) : root_fd;
      me->dir_opens++;
      if (me->dirfd < 0) return -1;
    }
    return openat(me->dirfd, slash ? slash + 1 : p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (use_openat2) return openat2_beneath(root_fd, p, O_RDONLY);
  return open(p, O_RDONLY | O_CLOEXEC);
}

static void *work(void *arg) {
  struct worker *me = arg;
  for (;;) {
    size_t k = atomic_fetch_add_explicit(&next_file, 1, memory_order_relaxed);
    if (k >= nfiles) break;
    char *buf = slots ? me->buf + (me->files % thread_slots) * slot_bytes : me->buf;
    int fd = open_file(me, paths[k]);
    if (fd < 0) {
      me->err = errno;
      snprintf(me->errmsg, sizeof me->errmsg, "open %s: %s", paths[k], strerror(errno));
      return NULL;
    }
    uint64_t want = sizes[k], got = 0;
    while (got < want) {
      ssize_t n = read(fd, buf + got, want - got);
      me->read_calls++;
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (uint64_t)n;
    }
    close(fd);
    if (got != want) {
      me->err = EIO;
      snprintf(me->errmsg, sizeof me->errmsg, "short read %s: %" PRIu64 " of %" PRIu64, paths[k], got, want);
      return NULL;
    }
    if (do_checksum) {
      uint64_t t0 = now_ns();
      me->sum += checksum(buf, got);
      me->chk_ns += now_ns() - t0;
    }
    me->files++;
    me->bytes += got;
  }
  return NULL;
}

static uint64_t cpu_ns(void) { /* user + system time of the whole process */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
         ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static void evict(void) {
  for (size_t i = 0; i < nfiles; ++i) {
    int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

static char *alloc_aligned(uint64_t bytes) {
  void *p;
  if (posix_memalign(&p, ALIGN, bytes) != 0) {
    fprintf(stderr, "posix_memalign(%" PRIu64 ") failed\n", bytes);
    exit(1);
  }
  madvise(p, bytes, MADV_HUGEPAGE);
  memset(p, 0, bytes); /* fault the pages in before any timing */
  return p;
}

static void usage(const char *argv0) {
  fprintf(stderr, "usage: %s [-t THREADS] [-r RUNS] [-c] [-C] [-2] [-d] [-s SLOTS] ROOT LIST\n", argv0);
  exit(2);
}

int main(int argc, char **argv) {
  int threads = 1, runs = 1, cold = 0, opt;
  while ((opt = getopt(argc, argv, "t:r:cC2ds:")) != -1) {
    switch (opt) {
      case 't': threads = atoi(optarg); break;
      case 'r': runs = atoi(optarg); break;
      case 'c': do_checksum = 1; break;
      case 'C': cold = 1; break;
      case '2': use_openat2 = 1; break;
      case 'd': use_dircache = 1; break;
      case 's': slots = (size_t)strtoull(optarg, NULL, 10); break;
      default: usage(argv[0]);
    }
  }
  if (argc - optind != 2 || threads < 1 || runs < 1) usage(argv[0]);
  const char *root = argv[optind], *list = argv[optind + 1];

  FILE *f = fopen(list, "r");
  if (!f) { perror(list); return 1; }
  size_t cap = 1024;
  paths = malloc(cap * sizeof *paths);
  sizes = malloc(cap * sizeof *sizes);
  char *line = NULL;
  size_t linecap = 0;
  ssize_t len;
  uint64_t maxsize = 0;
  while ((len = getline(&line, &linecap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = '\0';
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    if (nfiles == cap) {
      cap *= 2;
      paths = realloc(paths, cap * sizeof *paths);
      sizes = realloc(sizes, cap * sizeof *sizes);
    }
    sizes[nfiles] = strtoull(line, NULL, 10);
    paths[nfiles] = strdup(tab + 1);
    if (sizes[nfiles] > maxsize) maxsize = sizes[nfiles];
    nfiles++;
  }
  fclose(f);
  free(line);
  if (chdir(root) != 0) { perror(root); return 1; }
  root_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) { perror(root); return 1; }

  struct worker *w = calloc((size_t)threads, sizeof *w);
  for (int t = 0; t < threads; ++t) w[t].dirfd = -1;
  slot_bytes = (maxsize + 7) / 8 * 8;
  thread_slots = slots ? (slots / (size_t)threads ? slots / (size_t)threads : 1) : 1;
  uint64_t bufsize = (slot_bytes * thread_slots + ALIGN - 1) / ALIGN * ALIGN;
  if (bufsize == 0) bufsize = ALIGN;
  for (int t = 0; t < threads; ++t) w[t].buf = alloc_aligned(bufsize);

  for (int r = 0; r < runs; ++r) {
    if (cold) evict();
    for (int t = 0; t < threads; ++t) {
      char *b = w[t].buf;
      if (w[t].dirfd > 0 && w[t].dirfd != root_fd) close(w[t].dirfd);
      memset(&w[t], 0, sizeof w[t]);
      w[t].buf = b;
      w[t].dirfd = -1;
    }
    atomic_store(&next_file, 0);
    uint64_t c0 = cpu_ns(), t0 = now_ns();
    for (int t = 0; t < threads; ++t) pthread_create(&w[t].tid, NULL, work, &w[t]);
    for (int t = 0; t < threads; ++t) pthread_join(w[t].tid, NULL);
    uint64_t wall = now_ns() - t0, cpu = cpu_ns() - c0;
    uint64_t files = 0, bytes = 0, calls = 0, sum = 0, chk = 0, chk_max = 0, dir_opens = 0;
    for (int t = 0; t < threads; ++t) {
      if (w[t].err) { fprintf(stderr, "c_reader: %s\n", w[t].errmsg); return 1; }
      files += w[t].files;
      bytes += w[t].bytes;
      calls += w[t].read_calls;
      dir_opens += w[t].dir_opens;
      sum += w[t].sum;
      chk += w[t].chk_ns;
      if (w[t].chk_ns > chk_max) chk_max = w[t].chk_ns;
    }
    char sumtxt[32] = "null";
    if (do_checksum) snprintf(sumtxt, sizeof sumtxt, "%" PRIu64, sum);
    printf("{\"run\": %d, \"wall_ns\": %" PRIu64 ", \"cpu_ns\": %" PRIu64 ", \"files\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"read_calls\": %" PRIu64 ", \"checksum\": %s, \"checksum_ns_sum\": %" PRIu64
           ", \"checksum_ns_max_thread\": %" PRIu64 ", \"dir_opens\": %" PRIu64 "}\n",
           r, wall, cpu, files, bytes, calls, sumtxt, chk, chk_max, dir_opens);
    fflush(stdout);
  }
  return 0;
}
