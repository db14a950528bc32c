/* symbols.c: kernel symbols from /proc/kallsyms, user symbols through
 * elfutils' libdwfl (symbols.h). A process's modules are reported to libdwfl
 * from the maps text kept while it lived (dwfl_linux_proc_maps_report reads
 * it from a FILE), and each module's ELF is opened by its path, so a process
 * reaped before the lookups still resolves as long as its files exist. */
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbols.h"

/* snapshots of a process's maps between two execs (every tick until then) */
#define SYMBOLS_SNAPSHOTS 10

struct ksym {
	uint64_t addr;
	char *name;
};

struct proc_maps {
	pid_t tgid;
	char *maps; /* the last snapshot: its file mappings */
	size_t len;
	unsigned snapshots;
	unsigned execs; /* the process's exec count at the last snapshot */
	Dwfl *dwfl;	/* built from maps at the first lookup; NULL until then */
	bool dwfl_failed;
};

struct symbols {
	struct ksym *ksyms;
	size_t nksyms;
	bool ksyms_loaded;
	struct proc_maps *procs;
	size_t nprocs;
};

struct symbols *symbols_new(void)
{
	return calloc(1, sizeof(struct symbols));
}

void symbols_free(struct symbols *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nksyms; i++)
		free(s->ksyms[i].name);
	free(s->ksyms);
	for (size_t i = 0; i < s->nprocs; i++) {
		free(s->procs[i].maps);
		if (s->procs[i].dwfl)
			dwfl_end(s->procs[i].dwfl);
	}
	free(s->procs);
	free(s);
}

static int by_addr(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(struct symbols *s)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512], name[256], type;
	unsigned long long addr;
	size_t cap = 0;

	s->ksyms_loaded = true;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 || !addr)
			continue;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (s->nksyms == cap) {
			struct ksym *n;

			cap = cap ? cap * 2 : 65536;
			n = realloc(s->ksyms, cap * sizeof(*n));
			if (!n)
				break;
			s->ksyms = n;
		}
		s->ksyms[s->nksyms].addr = addr;
		s->ksyms[s->nksyms].name = strdup(name);
		if (s->ksyms[s->nksyms].name)
			s->nksyms++;
	}
	fclose(f);
	qsort(s->ksyms, s->nksyms, sizeof(*s->ksyms), by_addr);
}

const char *symbols_kernel(struct symbols *s, uint64_t addr, char *buf, size_t len)
{
	size_t lo = 0, hi;

	if (!s->ksyms_loaded)
		load_kallsyms(s);
	addr--;
	hi = s->nksyms;
	/* the last symbol at or below addr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo) {
		snprintf(buf, len, "[unknown]");
		return buf;
	}
	snprintf(buf, len, "%s", s->ksyms[lo - 1].name);
	return buf;
}

static struct proc_maps *proc_of(struct symbols *s, pid_t tgid, bool create)
{
	struct proc_maps *n;

	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].tgid == tgid)
			return &s->procs[i];
	if (!create)
		return NULL;
	n = realloc(s->procs, (s->nprocs + 1) * sizeof(*n));
	if (!n)
		return NULL;
	s->procs = n;
	n = &s->procs[s->nprocs++];
	memset(n, 0, sizeof(*n));
	n->tgid = tgid;
	return n;
}

bool symbols_snapshot(struct symbols *s, pid_t tgid, unsigned execs)
{
	char path[64], line[4096], *text = NULL;
	size_t len = 0;
	struct proc_maps *p = proc_of(s, tgid, false);
	FILE *f, *out;

	/* The dynamic loader maps the libraries in the first moments; after
	 * that only an exec changes the code (dlopen aside), and a process
	 * with a million coroutine stacks has a maps file of 150 MB: read a
	 * few times early, then again only after an exec. */
	if (p && p->execs == execs && p->snapshots >= SYMBOLS_SNAPSHOTS)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)tgid);
	f = fopen(path, "re");
	if (!f)
		return false;
	out = open_memstream(&text, &len);
	if (!out) {
		fclose(f);
		return false;
	}
	/* only mappings of files (libdwfl lays out each module from all of
	 * its segments): stacks and heaps are anonymous */
	while (fgets(line, sizeof(line), f))
		if (strchr(line, '/'))
			fputs(line, out);
	fclose(f);
	fclose(out);
	/* a reaped or exiting process reads empty: keep the older snapshot */
	p = len ? proc_of(s, tgid, true) : NULL;
	if (!p) {
		free(text);
		return false;
	}
	free(p->maps);
	p->maps = text;
	p->len = len;
	p->snapshots = p->execs == execs ? p->snapshots + 1 : 1;
	p->execs = execs;
	if (p->dwfl)
		dwfl_end(p->dwfl);
	p->dwfl = NULL;
	p->dwfl_failed = false;
	return true;
}

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf, /* opens the path the maps named */
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static Dwfl *dwfl_of(struct proc_maps *p)
{
	FILE *f;

	if (p->dwfl || p->dwfl_failed)
		return p->dwfl;
	p->dwfl_failed = true;
	p->dwfl = dwfl_begin(&callbacks);
	if (!p->dwfl)
		return NULL;
	f = fmemopen(p->maps, p->len, "r");
	if (!f || dwfl_linux_proc_maps_report(p->dwfl, f) || dwfl_report_end(p->dwfl, NULL, NULL)) {
		if (f)
			fclose(f);
		dwfl_end(p->dwfl);
		p->dwfl = NULL;
		return NULL;
	}
	fclose(f);
	p->dwfl_failed = false;
	return p->dwfl;
}

const char *symbols_user(struct symbols *s, pid_t tgid, uint64_t addr, char *buf, size_t len)
{
	struct proc_maps *p = proc_of(s, tgid, false);
	Dwfl *dwfl = p ? dwfl_of(p) : NULL;
	Dwfl_Module *mod;
	const char *name, *modname;
	Dwarf_Addr start;

	addr--;
	mod = dwfl ? dwfl_addrmodule(dwfl, addr) : NULL;
	if (!mod) {
		snprintf(buf, len, "[unknown]");
		return buf;
	}
	name = dwfl_module_addrname(mod, addr);
	if (name) {
		snprintf(buf, len, "%s", name);
		return buf;
	}
	modname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	if (modname && strrchr(modname, '/'))
		modname = strrchr(modname, '/') + 1;
	snprintf(buf, len, "[%s+0x%llx]", modname ? modname : "?",
		 (unsigned long long)(addr + 1 - start));
	return buf;
}
