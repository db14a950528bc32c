/* procfs.c: see procfs.h. */
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Field `which` (0 size, 1 resident) of /proc/self/statm, in bytes. */
static uint64_t statm_bytes(int which)
{
	unsigned long long v[2];
	FILE *f = fopen("/proc/self/statm", "re");
	int ok;

	if (!f)
		return 0;
	ok = fscanf(f, "%llu %llu", &v[0], &v[1]) == 2;
	fclose(f);
	return ok ? v[which] * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

uint64_t proc_rss_bytes(void)
{
	return statm_bytes(1);
}

uint64_t proc_vm_bytes(void)
{
	return statm_bytes(0);
}

static int64_t read_i64_file(const char *path)
{
	char buf[64];
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -ENOENT;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	return strncmp(buf, "max", 3) == 0 ? -1 : strtoll(buf, NULL, 10);
}

int proc_cgroup_pids(int64_t *current, int64_t *max)
{
	char line[512], path[600];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) { /* the cgroup v2 line */
			line[strcspn(line, "\n")] = '\0';
			found = 1;
			break;
		}
	fclose(f);
	if (!found)
		return -ENOENT;
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/pids.max", line + 3);
	*max = read_i64_file(path);
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/pids.current", line + 3);
	*current = read_i64_file(path);
	return *current < 0 ? -ENOENT : 0;
}

int proc_kernel_mem(struct kernel_mem *km)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -errno;
	memset(km, 0, sizeof(*km));
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;

		if (sscanf(line, "KernelStack: %llu kB", &kb) == 1)
			km->kernel_stack = kb * 1024;
		else if (sscanf(line, "Slab: %llu kB", &kb) == 1)
			km->slab = kb * 1024;
		else if (sscanf(line, "PageTables: %llu kB", &kb) == 1)
			km->page_tables = kb * 1024;
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			km->mem_available = kb * 1024;
	}
	fclose(f);
	return 0;
}

int64_t proc_threads_total(void)
{
	long long running, total;
	FILE *f = fopen("/proc/loadavg", "re");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%*s %*s %*s %lld/%lld", &running, &total) == 2;
	fclose(f);
	return ok ? total : -EIO;
}

int64_t proc_map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int64_t n = 0;
	int c;

	if (!f)
		return -errno;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* A buffer on the caller's stack, small enough for a coroutine's: the file
 * is about 1.5 KB here (more with thousands of CPUs in its masks). */
int proc_thread_switches(struct thread_switches *sw)
{
	char buf[4096];
	const char *v, *nv;
	size_t len = 0;
	ssize_t n = 1;
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[len] = '\0';
	v = strstr(buf, "\nvoluntary_ctxt_switches:");
	nv = strstr(buf, "\nnonvoluntary_ctxt_switches:");
	if (!v || !nv)
		return len == sizeof(buf) - 1 ? -EOVERFLOW : -ENODATA;
	sw->voluntary = strtoull(v + sizeof("\nvoluntary_ctxt_switches:") - 1, NULL, 10);
	sw->involuntary = strtoull(nv + sizeof("\nnonvoluntary_ctxt_switches:") - 1, NULL, 10);
	return 0;
}
