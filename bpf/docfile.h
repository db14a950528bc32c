/* docfile.h: a file that appears whole or not at all.
 *
 * schedtrace's --json FILE is read by the harness as the document of a run:
 * a tracer killed half-way must leave no empty or partial FILE behind. The
 * document is written to a file with no name in FILE's directory
 * (O_TMPFILE) and given its name only when complete (a temporary name, then
 * rename(2), which replaces FILE atomically and never follows a symlink
 * planted there). Without O_TMPFILE on that filesystem, a hidden temporary
 * name (.FILE.XXXXXX) stands in from the start.
 */
#ifndef SCHEDLAB_DOCFILE_H
#define SCHEDLAB_DOCFILE_H

#include <limits.h>
#include <stdio.h>

struct docfile {
	FILE *f;
	char path[PATH_MAX];	 /* the name it gets when complete */
	char tmp_path[PATH_MAX]; /* the hidden name, when O_TMPFILE was not available */
};

/* Opens the unnamed file in path's directory: 0, or -errno (the directory
 * does not exist or is not writable: bad input, found before anything runs). */
int docfile_open(struct docfile *d, const char *path);
/* Flushes, names the file path and closes it: 0, or -errno (then nothing
 * is left under path or a temporary name). */
int docfile_commit(struct docfile *d);
/* Closes without naming (a failed run): nothing is left. NULL-safe. */
void docfile_discard(struct docfile *d);

#endif
