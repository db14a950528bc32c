/* names.h: a name's index in a table of names, the one place a variant
 * spelled in a parameter becomes its enum value (coro_stack_parse, ...). */
#ifndef SCHEDLAB_NAMES_H
#define SCHEDLAB_NAMES_H

#include <stddef.h>
#include <string.h>

/* Entries of a table of names (an array, not a pointer). */
#define NAMES_OF(names) (sizeof(names) / sizeof((names)[0]))

/* The index of name in names[0..n), or -1. */
static inline int name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return (int)i;
	return -1;
}

#endif
