/* cpuset.c: see cpuset.h. */
#include "cpuset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cpuset_parse(const char *list, cpu_set_t *set, char *err, size_t err_len)
{
	const char *p = list;

	CPU_ZERO(set);
	if (!list || !*list) {
		snprintf(err, err_len, "empty CPU list: give e.g. 0 or 0-1");
		return -EINVAL;
	}
	while (*p) {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;

		if (end == p || lo < 0)
			goto bad;
		p = end;
		if (*p == '-') {
			hi = strtol(p + 1, &end, 10);
			if (end == p + 1 || hi < lo)
				goto bad;
			p = end;
		}
		if (hi >= CPU_SETSIZE)
			goto bad;
		for (long c = lo; c <= hi; c++)
			CPU_SET((int)c, set);
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	return 0;
bad:
	snprintf(err, err_len, "bad CPU list '%s': use numbers and ranges like 0, 0-1 or 0,2-3",
		 list);
	return -EINVAL;
}

int cpuset_apply(const char *list, char *err, size_t err_len)
{
	cpu_set_t want, allowed, both;

	if (cpuset_parse(list, &want, err, err_len))
		return -EINVAL;
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		CPU_ZERO(&allowed);
	CPU_AND(&both, &want, &allowed);
	if (!CPU_EQUAL(&both, &want)) {
		snprintf(err, err_len,
			 "--cpus %s: not every CPU is available here (%d CPUs allowed): "
			 "pick from the allowed set",
			 list, CPU_COUNT(&allowed));
		return -EINVAL;
	}
	if (sched_setaffinity(0, sizeof(want), &want)) {
		snprintf(err, err_len, "--cpus %s: sched_setaffinity: %s", list, strerror(errno));
		return -errno;
	}
	return 0;
}

int cpuset_nth_allowed(int n)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && n-- == 0)
			return c;
	return -1;
}

int cpuset_count_allowed(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	return CPU_COUNT(&set);
}

void cpuset_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && used < len; c++) {
		int last = c;
		int n;

		if (!CPU_ISSET(c, set))
			continue;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		n = last == c ? snprintf(buf + used, len - used, "%s%d", used ? "," : "", c)
			      : snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", c, last);
		if (n < 0)
			break;
		used += (size_t)n;
		c = last;
	}
}
