/* fileio: concurrent random block reads from a file the task creates.
 *
 * What it provokes: I/O that readiness APIs cannot wait for. epoll refuses
 * regular files, and a read from the page cache or the disk simply blocks the
 * caller, so each model has to decide what blocking means here:
 *   threads  pread() in each thread; the kernel overlaps the tasks. With a
 *            warm cache a read is a copy (~1-2 us for 4 KiB) and the threads
 *            mostly compete for 2 CPUs.
 *   coro     one thread must not block on the disk, so the model hands each
 *            pread to a small helper pool and parks the coroutine until it is
 *            done (counted in the record as coro_pread_offloads): every read
 *            pays two thread hand-offs, which a warm cache makes visible.
 *   uring    each read is an IORING_OP_READ; page-cache hits and O_DIRECT
 *            reads complete inline or from the block layer, without io-wq
 *            workers (the tracer's uring.iowq_offloads shows it).
 * Expected: with a warm cache threads ~ uring > coro (hand-off cost); with a
 * cold cache and O_DIRECT the device dominates and the models converge, with
 * uring and threads keeping `tasks` reads in flight.
 *
 * Method: setup creates a file of file_mb MiB in `dir` whose every 8-byte
 * word is a function of its offset and the seed, and keeps a table of each
 * block's checksum. The file has no name while it is read (O_TMPFILE, or
 * created and unlinked at once where the filesystem lacks O_TMPFILE), so it
 * disappears on every exit path, SIGKILL included. cache=warm reads it once
 * before; cache=cold fsyncs it, drops it with posix_fadvise(DONTNEED) and
 * opens it O_DIRECT when the filesystem accepts that (the record says
 * `direct` and, when false, why); the resident bytes measured with mincore()
 * before the window say how cold it really was. `tasks` readers then read
 * random block_bytes-aligned blocks for duration_ms (or `requests` in total);
 * each block read is checksummed and compared with the table, outside the
 * timed read, and a single mismatch fails the run. The process's CPU time
 * over the readers' run (helper threads and io-wq workers included) gives
 * iops_per_cpu_s: threads may keep both CPUs busy where a one-thread model
 * keeps one, so operations per second alone would credit them the second.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "task.h"

#define FILL_CHUNK_BYTES (1u << 20)
#define IO_ALIGN_BYTES	 4096

static const struct task_param fileio_params[] = {
	{.key = "file_mb",
	 .type = PARAM_U64,
	 .def = "64",
	 .unit = "MiB",
	 .min = 1,
	 .max = 1 << 20,
	 .help = "size of the file the task creates and reads"},
	{.key = "block_bytes",
	 .type = PARAM_U64,
	 .def = "4096",
	 .unit = "bytes",
	 .min = 512,
	 .max = 16 << 20,
	 .help = "bytes per read, a multiple of 512; reads are aligned to it"},
	{.key = "tasks",
	 .type = PARAM_U64,
	 .def = "4",
	 .unit = "count",
	 .min = 1,
	 .max = 10000,
	 .help = "concurrent readers"},
	{.key = "requests",
	 .type = PARAM_U64,
	 .def = "0",
	 .unit = "count",
	 .min = 0,
	 .max = 1000000000000ull,
	 .help = "measured reads in total; 0: read for duration_ms"},
	{.key = "duration_ms",
	 .type = PARAM_U64,
	 .def = "1000",
	 .unit = "ms",
	 .min = 1,
	 .max = 3600000,
	 .help = "measured window of each reader when requests is 0"},
	{.key = "cache",
	 .type = PARAM_ENUM,
	 .def = "warm",
	 .choices = "warm|cold",
	 .help = "warm: read once before; cold: fadvise(DONTNEED) and O_DIRECT where possible"},
	{.key = "dir",
	 .type = PARAM_STR,
	 .def = "",
	 .help = "existing writable directory for the file, absolute or relative (default: "
		 "/var/tmp, on disk and writable by every user; /tmp may be memory)"},
	PARAM_END,
};

/* One run per process: setup fills it, run reads it, teardown frees it. */
static struct fileio_state {
	char dir[PATH_MAX];
	int wfd, rfd; /* the file as written, and as read (maybe O_DIRECT) */
	int direct;
	char direct_reason[200];
	uint64_t file_bytes, block_bytes, nblocks, seed;
	uint64_t *block_sum; /* expected checksum of each block */
	uint64_t create_ns, resident_bytes;
	int unnamed; /* O_TMPFILE (1) or created and unlinked (0) */
} st = {.wfd = -1, .rfd = -1};

struct reader {
	struct rt *rt;
	uint64_t id, rng, warmup;
	uint64_t reads, bytes, mismatches, checksum, checksum_expected;
	uint64_t t_start, t_end;
	int err;
	unsigned char *buf;
	_Atomic uint64_t *issued;
	uint64_t requests, duration_ns;
	struct hist lat;
};

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The file's content: the word at byte offset off. */
static inline uint64_t word_at(uint64_t off, uint64_t seed)
{
	return splitmix64(off ^ (seed * 0xd1342543de82ef95ull));
}

/* Position-sensitive, so a block read at the wrong offset, or with its words
 * in the wrong order, does not pass. */
static uint64_t block_checksum(const unsigned char *buf, size_t len)
{
	uint64_t sum = 0, w;

	for (size_t i = 0; i < len / 8; i++) {
		memcpy(&w, buf + 8 * i, 8);
		sum += w * (2 * i + 1);
	}
	return sum;
}

/* ---- setup: the file ----------------------------------------------------- */

/* "" means /var/tmp: a disk directory (FHS) every user may write, where the
 * checkout's build/ may be root's; the file is unnamed or O_EXCL there, so a
 * shared directory cannot steer it. */
static int resolve_dir(const char *dir, char *out, size_t len)
{
	if (!*dir)
		dir = "/var/tmp";
	if (strlen(dir) >= len)
		return -ENAMETOOLONG;
	strcpy(out, dir);
	return 0;
}

static int fileio_validate(const struct task_ctx *ctx, char *err, size_t len)
{
	uint64_t bb = task_u64(ctx, "block_bytes");
	char dir[PATH_MAX];
	struct stat sb;
	int r = resolve_dir(task_str(ctx, "dir"), dir, sizeof(dir));

	if (bb % 512) {
		snprintf(err, len, "--block_bytes %" PRIu64 ": must be a multiple of 512", bb);
		return -1;
	}
	if (bb > task_u64(ctx, "file_mb") << 20) {
		snprintf(err, len,
			 "--block_bytes %" PRIu64 " is larger than the file (--file_mb %" PRIu64
			 ")",
			 bb, task_u64(ctx, "file_mb"));
		return -1;
	}
	if (r) {
		snprintf(err, len, "--dir %s: %s", task_str(ctx, "dir"), strerror(-r));
		return -1;
	}
	if (stat(dir, &sb)) {
		snprintf(err, len, "--dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, len, "--dir %s: not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK)) {
		snprintf(err, len, "--dir %s: not writable: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* An unnamed file in st.dir: O_TMPFILE, or a unique name unlinked at once. */
static int create_file(struct record *rec)
{
	char path[PATH_MAX + 64];

	st.wfd = open(st.dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (st.wfd >= 0) {
		st.unnamed = 1;
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		rec_fail(rec, "create a file in %s: %s", st.dir, strerror(errno));
		return -1;
	}
	for (int attempt = 0; attempt < 100; attempt++) {
		snprintf(path, sizeof(path), "%s/schedlab-fileio.%d.%d", st.dir, (int)getpid(),
			 attempt);
		st.wfd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (st.wfd >= 0)
			break;
		if (errno != EEXIST) {
			rec_fail(rec, "create %s: %s", path, strerror(errno));
			return -1;
		}
	}
	if (st.wfd < 0) {
		rec_fail(rec, "create a file in %s: every name taken", st.dir);
		return -1;
	}
	/* the open fd keeps the data; no name means nothing to leave behind */
	if (unlink(path)) {
		rec_fail(rec, "unlink %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes the known content and the table of block checksums. */
static int fill_file(struct record *rec)
{
	unsigned char *buf = malloc(FILL_CHUNK_BYTES);
	int ret = -1;

	if (!buf) {
		rec_fail(rec, "out of memory for the fill buffer");
		goto cleanup;
	}
	for (uint64_t off = 0; off < st.file_bytes; off += FILL_CHUNK_BYTES) {
		size_t len = st.file_bytes - off < FILL_CHUNK_BYTES ? st.file_bytes - off
								    : FILL_CHUNK_BYTES;

		for (size_t i = 0; i < len; i += 8) {
			uint64_t w = word_at(off + i, st.seed);

			memcpy(buf + i, &w, 8);
		}
		for (size_t b = 0; b < len; b += st.block_bytes)
			st.block_sum[(off + b) / st.block_bytes] =
				block_checksum(buf + b, st.block_bytes);
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(st.wfd, buf + done, len - done, (off_t)(off + done));

			if (n <= 0) {
				rec_fail(rec, "write %" PRIu64 " MiB to a file in %s: %s",
					 st.file_bytes >> 20, st.dir,
					 n < 0 ? strerror(errno) : "wrote nothing");
				goto cleanup;
			}
			done += (size_t)n;
		}
	}
	ret = 0;
cleanup:
	free(buf);
	return ret;
}

/* Bytes of the file in the page cache now (mincore on a mapping of it). */
static int resident_bytes(uint64_t *out)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = (st.file_bytes + (uint64_t)page - 1) / (uint64_t)page;
	unsigned char *vec = malloc(pages);
	void *map = MAP_FAILED;
	int err = 0;

	*out = 0;
	if (!vec)
		return -ENOMEM;
	map = mmap(NULL, st.file_bytes, PROT_READ, MAP_SHARED, st.wfd, 0);
	if (map == MAP_FAILED || mincore(map, st.file_bytes, vec)) {
		err = -errno;
		goto cleanup;
	}
	for (size_t i = 0; i < pages; i++)
		*out += (vec[i] & 1) ? (uint64_t)page : 0;
cleanup:
	if (map != MAP_FAILED)
		munmap(map, st.file_bytes);
	free(vec);
	return err;
}

/* The read fd: the same file reopened, O_DIRECT for a cold cache when both
 * the open and an aligned read of one block accept it. */
static int open_reader(struct record *rec, int cold)
{
	char self[64];
	void *probe = NULL;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", st.wfd);
	if (cold) {
		st.rfd = open(self, O_RDONLY | O_CLOEXEC | O_DIRECT);
		if (st.rfd < 0) {
			snprintf(st.direct_reason, sizeof(st.direct_reason),
				 "open O_DIRECT in %.120s: %s", st.dir, strerror(errno));
		} else if (posix_memalign(&probe, IO_ALIGN_BYTES, st.block_bytes)) {
			rec_fail(rec, "out of memory for a %" PRIu64 "-byte buffer",
				 st.block_bytes);
			return -1;
		} else if (pread(st.rfd, probe, st.block_bytes, 0) != (ssize_t)st.block_bytes) {
			snprintf(st.direct_reason, sizeof(st.direct_reason),
				 "O_DIRECT read of %" PRIu64 " bytes in %.120s: %s", st.block_bytes,
				 st.dir, strerror(errno));
			close(st.rfd);
			st.rfd = -1;
		} else {
			st.direct = 1;
		}
		free(probe);
		if (st.direct)
			return 0;
	}
	st.rfd = open(self, O_RDONLY | O_CLOEXEC);
	if (st.rfd < 0) {
		rec_fail(rec, "reopen the file in %s through %s: %s", st.dir, self,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int warm_up_cache(struct record *rec)
{
	unsigned char *buf = malloc(FILL_CHUNK_BYTES);
	int ret = -1;

	if (!buf) {
		rec_fail(rec, "out of memory for the warm-up buffer");
		return -1;
	}
	for (uint64_t off = 0; off < st.file_bytes; off += FILL_CHUNK_BYTES) {
		if (pread(st.rfd, buf, FILL_CHUNK_BYTES, (off_t)off) < 0) {
			rec_fail(rec, "read the file in %s: %s", st.dir, strerror(errno));
			goto cleanup;
		}
	}
	ret = 0;
cleanup:
	free(buf);
	return ret;
}

static int fileio_setup(struct task_ctx *ctx)
{
	struct record *rec = ctx->rec;
	int cold = strcmp(task_str(ctx, "cache"), "cold") == 0;
	uint64_t t0 = now_ns();
	int err;

	err = resolve_dir(task_str(ctx, "dir"), st.dir, sizeof(st.dir));
	if (err) {
		rec_fail(rec, "--dir %s: %s", task_str(ctx, "dir"), strerror(-err));
		return 1;
	}
	st.file_bytes = task_u64(ctx, "file_mb") << 20;
	st.block_bytes = task_u64(ctx, "block_bytes");
	st.nblocks = st.file_bytes / st.block_bytes;
	st.seed = task_u64(ctx, "seed");
	st.block_sum = calloc(st.nblocks, sizeof(*st.block_sum));
	if (!st.block_sum) {
		rec_fail(rec, "out of memory for %" PRIu64 " block checksums", st.nblocks);
		return 1;
	}
	if (create_file(rec) || fill_file(rec))
		return 1;
	if (cold) {
		/* dirty pages cannot be dropped: write them back first */
		if (fsync(st.wfd)) {
			rec_fail(rec, "fsync the file in %s: %s", st.dir, strerror(errno));
			return 1;
		}
		err = posix_fadvise(st.wfd, 0, 0, POSIX_FADV_DONTNEED);
		if (err) {
			rec_fail(rec, "posix_fadvise DONTNEED in %s: %s", st.dir, strerror(err));
			return 1;
		}
	}
	if (open_reader(rec, cold))
		return 1;
	if (!cold && warm_up_cache(rec))
		return 1;
	if (cold && st.direct) {
		/* the O_DIRECT probe read bypassed the cache; drop anything else */
		posix_fadvise(st.wfd, 0, 0, POSIX_FADV_DONTNEED);
	}
	st.create_ns = now_ns() - t0;
	err = resident_bytes(&st.resident_bytes);
	if (err)
		fprintf(stderr, "fileio: mincore: %s (resident bytes not measured)\n",
			strerror(-err));
	return 0;
}

static void fileio_teardown(struct task_ctx *ctx)
{
	(void)ctx;
	/* the file has no name: closing the last fd frees its blocks */
	if (st.rfd >= 0)
		close(st.rfd);
	if (st.wfd >= 0)
		close(st.wfd);
	st.rfd = st.wfd = -1;
	free(st.block_sum);
	st.block_sum = NULL;
}

/* ---- run: the readers ---------------------------------------------------- */

static int read_one(struct reader *r, int timed)
{
	uint64_t block = splitmix64(r->rng++) % st.nblocks;
	uint64_t t0, t1, sum;
	ssize_t n;

	t0 = now_ns();
	n = rt_pread(r->rt, st.rfd, r->buf, st.block_bytes, (off_t)(block * st.block_bytes));
	t1 = now_ns();
	if (n < 0)
		return (int)n;
	if ((uint64_t)n != st.block_bytes)
		return -EIO; /* the file is complete: a short read is an error */
	/* verification stays outside the timed read */
	sum = block_checksum(r->buf, st.block_bytes);
	if (sum != st.block_sum[block])
		r->mismatches++;
	if (!timed)
		return 0;
	hist_add(&r->lat, t1 - t0);
	r->reads++;
	r->bytes += (uint64_t)n;
	r->checksum += sum;
	r->checksum_expected += st.block_sum[block];
	return 0;
}

static void reader_main(void *arg)
{
	struct reader *r = arg;
	int err = 0;

	for (uint64_t i = 0; i < r->warmup && !err; i++)
		err = read_one(r, 0);
	r->t_start = now_ns();
	while (!err) {
		if (r->requests) {
			if (atomic_fetch_add(r->issued, 1) >= r->requests)
				break;
		} else if (now_ns() - r->t_start >= r->duration_ns) {
			break;
		}
		err = read_one(r, 1);
	}
	r->t_end = now_ns();
	r->err = err;
}

static int fileio_run(struct rt *rt, struct task_ctx *ctx)
{
	struct record *rec = ctx->rec;
	uint64_t ntasks = task_u64(ctx, "tasks");
	struct reader *readers = calloc(ntasks, sizeof(*readers));
	struct rt_task **tasks = calloc(ntasks, sizeof(*tasks));
	_Atomic uint64_t issued = 0;
	struct hist *lat = malloc(sizeof(*lat));
	uint64_t reads = 0, bytes = 0, mismatches = 0, sum = 0, sum_expected = 0;
	uint64_t t_start = UINT64_MAX, t_end = 0, spawned = 0, cpu0, cpu_ns;
	int ret = 1, err, failed = 0;
	struct statfs sfs;

	if (!readers || !tasks || !lat) {
		rec_fail(rec, "out of memory for %" PRIu64 " readers", ntasks);
		goto cleanup;
	}
	err = rt_fd_add(rt, st.rfd);
	if (err) {
		rec_fail(rec, "fd_add the file: %s", strerror(-err));
		goto cleanup;
	}
	hist_init(lat);
	cpu0 = process_cpu_ns();
	for (uint64_t i = 0; i < ntasks; i++) {
		struct reader *r = &readers[i];

		r->rt = rt;
		r->id = i;
		r->rng = splitmix64(st.seed ^ (i * 0x9e3779b97f4a7c15ull));
		r->warmup = task_u64(ctx, "warmup");
		r->issued = &issued;
		r->requests = task_u64(ctx, "requests");
		r->duration_ns = task_u64(ctx, "duration_ms") * 1000000ull;
		hist_init(&r->lat);
		if (posix_memalign((void **)&r->buf, IO_ALIGN_BYTES, st.block_bytes)) {
			r->buf = NULL;
			rec_fail(rec, "out of memory for reader buffers");
			failed = 1;
			break;
		}
		err = rt_spawn(rt, reader_main, r, NULL, &tasks[i]);
		if (err) {
			rec_fail(rec, "spawning reader %" PRIu64 ": %s", i, strerror(-err));
			failed = 1;
			break;
		}
		spawned++;
	}
	for (uint64_t i = 0; i < spawned; i++) {
		struct reader *r = &readers[i];

		rt_join(rt, tasks[i]);
		if (r->err && !failed) {
			rec_fail(rec,
				 "reader %" PRIu64 ": pread of %" PRIu64
				 " bytes from the file in %s: %s",
				 i, st.block_bytes, st.dir, strerror(-r->err));
			failed = 1;
		}
		hist_merge(lat, &r->lat);
		reads += r->reads;
		bytes += r->bytes;
		mismatches += r->mismatches;
		sum += r->checksum;
		sum_expected += r->checksum_expected;
		if (r->t_start < t_start)
			t_start = r->t_start;
		if (r->t_end > t_end)
			t_end = r->t_end;
	}
	cpu_ns = process_cpu_ns() - cpu0;
	rt_close(rt, st.rfd);
	st.rfd = -1;
	if (failed)
		goto cleanup;

	rec_metric_u64(rec, "reads", reads);
	rec_metric_u64(rec, "bytes_read", bytes);
	rec_metric_u64(rec, "window_ns", t_end - t_start);
	rec_metric_f64(rec, "iops",
		       t_end > t_start ? (double)reads * 1e9 / (double)(t_end - t_start) : 0.0);
	/* per CPU-second: a model that keeps two CPUs busy is not twice as
	 * efficient as one that keeps one busy for the same iops */
	rec_metric_u64(rec, "cpu_ns_window", cpu_ns);
	rec_metric_f64(rec, "cpus_busy",
		       t_end > t_start ? (double)cpu_ns / (double)(t_end - t_start) : 0.0);
	rec_metric_f64(rec, "iops_per_cpu_s", cpu_ns ? (double)reads * 1e9 / (double)cpu_ns : 0.0);
	rec_metric_hist(rec, "latency_ns", lat);
	rec_metric_u64(rec, "checksum", sum);
	rec_metric_u64(rec, "checksum_expected", sum_expected);
	rec_metric_u64(rec, "checksum_mismatches", mismatches);
	rec_metric_bool(rec, "verified", mismatches == 0 && sum == sum_expected);
	rec_metric_bool(rec, "direct", st.direct);
	if (!st.direct && st.direct_reason[0])
		rec_metric_str(rec, "direct_reason", st.direct_reason);
	rec_metric_u64(rec, "file_bytes", st.file_bytes);
	rec_metric_u64(rec, "resident_bytes_before", st.resident_bytes);
	rec_metric_u64(rec, "setup_ns", st.create_ns);
	rec_metric_bool(rec, "file_unnamed_tmpfile", st.unnamed);
	if (statfs(st.dir, &sfs) == 0) {
		char magic[24];

		snprintf(magic, sizeof(magic), "0x%lx", (unsigned long)sfs.f_type);
		rec_metric_str(rec, "fs_magic", magic);
	}
	if (mismatches || sum != sum_expected) {
		rec_fail(rec,
			 "%" PRIu64 " of %" PRIu64 " blocks read differ from the file's content",
			 mismatches, reads);
		goto cleanup;
	}
	ret = 0;
cleanup:
	for (uint64_t i = 0; readers && i < ntasks; i++)
		free(readers[i].buf);
	free(readers);
	free(tasks);
	free(lat);
	return ret;
}

/* What the record's metrics hold (units, direction, headline: task.h). */
static const struct task_metric fileio_metrics[] = {
	{.name = "iops",
	 .unit = "per_s",
	 .better = BETTER_HIGHER,
	 .headline = true,
	 .help = "reads completed in the window per second"},
	{.name = "iops_per_cpu_s",
	 .unit = "per_s",
	 .better = BETTER_HIGHER,
	 .headline = true,
	 .help = "reads per CPU-second the whole process used over the readers' run (helper "
		 "threads and io-wq workers included)"},
	{.name = "cpu_ns_window",
	 .unit = "ns",
	 .help = "the process's CPU time from spawning the readers to joining them"},
	{.name = "cpus_busy",
	 .unit = "ratio",
	 .help = "cpu_ns_window / window_ns: how many CPUs the model kept busy on average"},
	{.name = "latency_ns",
	 .kind = METRIC_DIST,
	 .unit = "ns",
	 .better = BETTER_LOWER,
	 .headline = true,
	 .help = "per read, from issue to completion"},
	{.name = "reads", .unit = "count", .help = "reads completed in the window"},
	{.name = "bytes_read", .unit = "bytes", .help = "bytes read in the window"},
	{.name = "window_ns", .unit = "ns", .help = "the measured window"},
	{.name = "checksum", .help = "sum over every block read"},
	{.name = "checksum_expected", .help = "the sum the written pattern gives"},
	{.name = "checksum_mismatches",
	 .unit = "count",
	 .help = "blocks whose content differs from the pattern written"},
	{.name = "verified", .kind = METRIC_FLAG, .help = "every block read matched its pattern"},
	{.name = "direct", .kind = METRIC_FLAG, .help = "the file was read with O_DIRECT"},
	{.name = "direct_reason",
	 .kind = METRIC_TEXT,
	 .optional = true,
	 .help = "why O_DIRECT was refused (when it was)"},
	{.name = "file_bytes", .unit = "bytes", .help = "size of the file read"},
	{.name = "resident_bytes_before",
	 .unit = "bytes",
	 .help = "bytes of the file in the page cache when the window opened"},
	{.name = "setup_ns", .unit = "ns", .help = "time to create and fill the file"},
	{.name = "file_unnamed_tmpfile",
	 .kind = METRIC_FLAG,
	 .help = "the file was an unnamed O_TMPFILE"},
	{.name = "fs_magic",
	 .kind = METRIC_TEXT,
	 .optional = true,
	 .help = "the file system's statfs magic"},
	METRIC_END,
};

const struct task fileio_task = {
	.name = "fileio",
	.summary = "concurrent random block reads from a file, page cache warm or cold",
	.params = fileio_params,
	.metrics = fileio_metrics,
	.validate = fileio_validate,
	.setup = fileio_setup,
	.run = fileio_run,
	.teardown = fileio_teardown,
};
