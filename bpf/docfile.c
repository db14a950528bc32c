/* docfile.c: see docfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docfile.h"

/* "dir/name" -> "dir" and "name"; "name" -> "." and "name". */
static void split(const char *path, char *dir, size_t dlen, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, dlen, ".");
		*base = path;
	} else {
		snprintf(dir, dlen, "%.*s", slash == path ? 1 : (int)(slash - path), path);
		*base = slash + 1;
	}
}

int docfile_open(struct docfile *d, const char *path)
{
	char dir[PATH_MAX];
	const char *base;
	int fd;

	memset(d, 0, sizeof(*d));
	split(path, dir, sizeof(dir), &base);
	if (!*base)
		return -EISDIR;
	if (snprintf(d->path, sizeof(d->path), "%s", path) >= (int)sizeof(d->path))
		return -ENAMETOOLONG;
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		if (snprintf(d->tmp_path, sizeof(d->tmp_path), "%s/.%s.XXXXXX", dir, base) >=
		    (int)sizeof(d->tmp_path)) {
			d->tmp_path[0] = '\0';
			return -ENAMETOOLONG;
		}
		fd = mkostemp(d->tmp_path, O_CLOEXEC);
		if (fd >= 0)
			fchmod(fd, 0666 & ~umask(umask(0)));
	}
	if (fd < 0) {
		d->tmp_path[0] = '\0';
		return -errno;
	}
	d->f = fdopen(fd, "w");
	if (!d->f) {
		int err = -errno;

		close(fd);
		docfile_discard(d);
		return err;
	}
	return 0;
}

/* Links the unnamed file as a hidden name beside path (a name that may be
 * left from a killed tracer of the same pid is replaced). */
static int link_tmpfile(struct docfile *d)
{
	char proc[64], dir[PATH_MAX];
	const char *base;

	split(d->path, dir, sizeof(dir), &base);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fileno(d->f));
	if (snprintf(d->tmp_path, sizeof(d->tmp_path), "%s/.%s.%d", dir, base, (int)getpid()) >=
	    (int)sizeof(d->tmp_path)) {
		d->tmp_path[0] = '\0';
		return -ENAMETOOLONG;
	}
	for (int tries = 0; tries < 2; tries++) {
		if (!linkat(AT_FDCWD, proc, AT_FDCWD, d->tmp_path, AT_SYMLINK_FOLLOW))
			return 0;
		if (errno != EEXIST || unlink(d->tmp_path))
			break;
	}
	d->tmp_path[0] = '\0';
	return -errno;
}

int docfile_commit(struct docfile *d)
{
	int err = 0;

	if (fflush(d->f) || fsync(fileno(d->f)))
		err = -errno;
	if (!err && !d->tmp_path[0])
		err = link_tmpfile(d);
	if (!err && rename(d->tmp_path, d->path))
		err = -errno;
	if (!err)
		d->tmp_path[0] = '\0';
	docfile_discard(d);
	return err;
}

void docfile_discard(struct docfile *d)
{
	if (!d)
		return;
	if (d->f)
		fclose(d->f);
	d->f = NULL;
	if (d->tmp_path[0])
		unlink(d->tmp_path);
	d->tmp_path[0] = '\0';
}
