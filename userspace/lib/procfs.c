/* procfs.c: see procfs.h. */
#include "procfs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t proc_rss_bytes(void)
{
	unsigned long long size, resident;
	FILE *f = fopen("/proc/self/statm", "re");
	int ok;

	if (!f)
		return 0;
	ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
	fclose(f);
	return ok ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
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
