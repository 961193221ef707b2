"""The database file and its folders, checked before SQLite opens anything: no symbolic links,
no other user's file, no file or folder every user can write, and an SQLite file or none."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from shlex import quote

from nsaudit.errors import DatabaseError

SQLITE_MAGIC = b"SQLite format 3\x00"
# As the kernel's limit on symbolic links followed in one path lookup.
_MAX_LINKS = 40


def check_existing(path: str) -> None:
    """The checks every opening makes; a missing file is an error (reading never creates)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise DatabaseError(
            f"no database at {path}: take a snapshot with `nsaudit snapshot --db {quote(path)}`, "
            "or give the right --db (or $NSAUDIT_DB)"
        ) from None
    except OSError as e:
        raise DatabaseError(f"database {path} cannot be read: {e.strerror}") from None
    check_folder(path)
    if stat.S_ISLNK(st.st_mode):
        raise DatabaseError(
            f"database {path} is a symbolic link; nsaudit does not follow it: give the real path"
        )
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseError(f"database {path} is not a regular file; give a file path to --db")
    if st.st_uid != os.geteuid():
        raise DatabaseError(
            f"database {path} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}); "
            "nsaudit refuses another user's database: use your own --db"
        )
    if st.st_mode & stat.S_IWOTH:
        raise DatabaseError(
            f"database {path} can be written by every user (mode {stat.S_IMODE(st.st_mode):04o})"
            f", so anyone could rewrite the audit trail: run `chmod o-w {quote(path)}`"
        )
    if st.st_size:
        try:
            with open(path, "rb") as f:
                head = f.read(len(SQLITE_MAGIC))
        except OSError as e:
            raise DatabaseError(f"database {path} cannot be read: {e.strerror}") from None
        if head != SQLITE_MAGIC:
            raise DatabaseError(
                f"{path} is not an SQLite database; nsaudit leaves it alone: give another --db"
            )


def check_folder(path: str) -> None:
    """The database's own folder is not a symbolic link, and no folder the path leads through,
    symbolic links followed as the kernel follows them, can be written by every user unless it
    is sticky (/tmp): otherwise anyone could swap the file. A folder still to be made is judged
    by the folders it would be made in, before anything is made."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        existing = folder
        while not os.path.lexists(existing):
            existing = os.path.dirname(existing)
        if existing == folder and stat.S_ISLNK(os.lstat(folder).st_mode):
            raise DatabaseError(
                f"the folder of database {path}, {folder}, is a symbolic link; nsaudit does "
                "not follow it: give the real path"
            )
        for current in _lookups(existing):
            st = os.stat(current)
            if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
                raise DatabaseError(
                    f"folder {current} of database {path} can be written by every user (mode "
                    f"{stat.S_IMODE(st.st_mode):04o}), so anyone could replace the database: "
                    f"run `chmod o-w {quote(current)}`"
                )
    except OSError as e:
        raise DatabaseError(f"database {path} cannot be reached: {e.strerror}") from None


def _lookups(folder: str) -> Iterator[str]:
    """Every real folder in which a name is looked up on the way into `folder` (absolute, and
    existing), and `folder`'s real self: whoever can write one of them can redirect the path.
    A symbolic link's own folder counts as well as every folder its target leads through."""
    todo = folder.split("/")
    current = "/"
    links = 0
    yield current
    while todo:
        name = todo.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            # `current` holds no symbolic link, so its parent is the real one.
            current = os.path.dirname(current)
            continue
        step = os.path.join(current, name)
        st = os.lstat(step)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            target = os.readlink(step)
            if target.startswith("/"):
                current = "/"
            todo[:0] = target.split("/")
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        current = step
        yield current


def prepare_folder(path: str, creates: bool = True) -> str:
    """The database's folder, checked; a missing one is made (0700) once the folders it is made
    in have passed, unless the database is never created (mode=ro). Checked again after making:
    a folder that someone else made, or swapped for a link, in between is judged too."""
    folder = os.path.dirname(os.path.abspath(path))
    check_folder(path)
    if creates and not os.path.lexists(folder):
        make_folders(folder)
        check_folder(path)
    return folder


def check_or_create(path: str) -> None:
    if os.path.lexists(path):
        check_existing(path)
        return
    try:
        prepare_folder(path)
        # The path SQLite will open (engine.SqliteFile.uri): `..` is taken off as it is there.
        fd = os.open(
            os.path.abspath(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600
        )
        os.close(fd)
    except FileExistsError:
        check_existing(path)
    except OSError as e:
        raise DatabaseError(f"cannot create database {path}: {e.strerror}") from None


def make_folders(folder: str) -> None:
    """Create every missing folder 0700 (os.makedirs gives the mode to the last one only)."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for created in reversed(missing):
        try:
            os.mkdir(created, 0o700)
        except FileExistsError:
            continue
        # The umask may have taken bits away; 0700 is what the README promises.
        os.chmod(created, 0o700)
