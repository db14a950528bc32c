"""Files of a run directory that are the run's own.

`schedlab run` often runs as root, and `--out` may name a directory in a
place others can write (/tmp). Everything here refuses to be steered by
someone else's file: the run directory must be the invoking user's and
writable by nobody else; files in it are opened with O_NOFOLLOW (a planted
symlink is an error, never followed), O_NONBLOCK (a planted FIFO never
hangs the run) and checked to be regular files; a file that is rewritten
(run.json, catalog.json) is written under a temporary name and renamed into
place, so it is whole or absent, never truncated.

A write that fails for want of space raises DiskFull, which says how many
bytes were needed and how many were free: the CLI prints it as one line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class UnsafePath(Exception):
    """A path a run must not use: one line saying why and what to do."""


class DiskFull(OSError):
    """No space (or quota) left while writing path."""

    def __init__(self, path: Path, needed: int):
        self.path, self.needed = Path(path), needed
        try:
            st = os.statvfs(self.path.parent)
            self.free = st.f_bavail * st.f_frsize
        except OSError:
            self.free = None
        free = "unknown" if self.free is None else f"{self.free:,}"
        super().__init__(errno.ENOSPC, f"no space left on the device of {self.path} "
                         f"(writing {needed:,} bytes, {free} bytes free)")


def _full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, errno.EDQUOT)


def check_owned_dir(path: Path, what: str = "--out") -> None:
    """path, which exists, is a directory of the invoking user that nobody
    else can write: otherwise UnsafePath naming the reason."""
    try:
        st = os.lstat(path)
    except OSError as e:
        raise UnsafePath(f"{what} {path}: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{what} {path} is a symlink; give the directory it points to, "
                         "if it is yours")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{what} {path} exists and is not a directory; give a directory "
                         "path (it is created if missing)")
    if st.st_uid != os.geteuid():
        raise UnsafePath(f"{what} {path} belongs to uid {st.st_uid}, not to you "
                         f"(uid {os.geteuid()}); use a directory of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePath(f"{what} {path} is writable by others (mode "
                         f"{stat.S_IMODE(st.st_mode):o}); `chmod go-w {path}` or use "
                         "another directory")


def make_run_dir(path: Path) -> None:
    """Create path (its parents as needed), or accept it when it is already
    a directory of ours that nobody else can write."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UnsafePath(f"--out {path}: {path.parent} is not a directory") from None
    except OSError as e:
        if _full(e):
            raise DiskFull(path.parent, 4096) from None
        raise UnsafePath(f"--out {path}: cannot create {path.parent}: {e.strerror}") from None
    try:
        os.mkdir(path, 0o755)
        return
    except FileExistsError:
        pass
    except OSError as e:
        if _full(e):
            raise DiskFull(path, 4096) from None
        raise UnsafePath(f"--out {path}: cannot create it: {e.strerror}") from None
    check_owned_dir(path)


def open_fd(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open with O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, refusing anything
    but a regular file (a FIFO, a device, a directory). O_NONBLOCK is
    cleared again once the file is known to be regular."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symlink; a run never follows one: remove it") \
                from None
        if e.errno == errno.ENXIO:      # a FIFO nobody reads
            raise UnsafePath(f"{path} is not a regular file: remove it") from None
        if _full(e):
            raise DiskFull(path, 0) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePath(f"{path} is not a regular file: remove it")
    os.set_blocking(fd, True)
    return fd


def _opener(path: str, flags: int) -> int:
    return open_fd(Path(path), flags)


def open_append(path: Path):
    """A text file for appending lines (records.jsonl, warmup.jsonl)."""
    return open(path, "a", encoding="utf-8", opener=_opener)


def open_lock(path: Path):
    """The run directory's lock file, to read and rewrite in place."""
    return open(path, "a+", encoding="utf-8", opener=_opener)


def make_subdir(path: Path) -> None:
    """A directory inside a run directory (plots/, traces/): created, or
    accepted when it is already a directory of ours that nobody else can
    write; a symlink planted there is refused, never followed."""
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        if os.path.islink(path):
            raise UnsafePath(f"{path} is a symlink; a run never follows one: remove it") \
                from None
        check_owned_dir(path, "directory")
    except OSError as e:
        if _full(e):
            raise DiskFull(path, 4096) from None
        raise UnsafePath(f"cannot create {path}: {e.strerror}") from None


def write_text(path: Path, text: str) -> None:
    """path's whole content, atomically: a temporary name beside it, fsynced,
    renamed over it (a symlink at path is replaced, never followed)."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """write_text for bytes (a plot's PNG)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.unlink(tmp)                  # a leftover of a killed run of this pid
    except FileNotFoundError:
        pass
    fd = open_fd(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if _full(e):
            raise DiskFull(path, len(data)) from None
        raise


def append_line(fp, line: str) -> None:
    """One line, flushed and fsynced; DiskFull when it did not fit (the part
    that did is cut off by record.repair when the run resumes)."""
    try:
        fp.write(line)
        fp.flush()
        os.fsync(fp.fileno())
    except OSError as e:
        if _full(e):
            raise DiskFull(Path(fp.name), len(line.encode("utf-8"))) from None
        raise


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file (at most limit), opened without following
    a symlink and without blocking on a FIFO: UnsafePath otherwise."""
    fd = open_fd(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read() if limit is None else f.read(limit)
