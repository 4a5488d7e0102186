"""Where selector keeps its caches, and how it writes files so none is left half-written."""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from selector.errors import InputError

CACHE_ENV = "SELECTOR_CACHE_DIR"
MAX_INPUT_BYTES = 16 * 2**20  # a requirements or catalog file; beyond this it is not one


def cache_dir() -> Path:
    """`$SELECTOR_CACHE_DIR`, else the user cache directory platformdirs gives for selector."""
    return _cache_dir_for(os.environ.get(CACHE_ENV) or "")


@functools.lru_cache(maxsize=8)
def _cache_dir_for(env: str) -> Path:
    # every fit estimate asks (calibration): resolved once per value of the variable
    return Path(env).expanduser() if env else _platform_cache_dir()


@functools.cache
def _platform_cache_dir() -> Path:
    # asked once per fit estimate; platformdirs resolves it afresh each time
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("selector"))


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None) -> None:
    """Write to a temporary file beside `path`, then rename it into place (with `mode`, else
    the 0600 of a temporary file)."""
    import tempfile  # imported when writing: a run that only reads starts without it

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def expand_user(path: Path, what: str = "path") -> Path:
    """`~` and `~user` expanded; an unknown user is an InputError, not a RuntimeError."""
    try:
        return path.expanduser()
    except RuntimeError:
        raise InputError(f"{what} {path}: cannot expand '~' (no such user or no home)") from None


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for a message."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def regular_file_problem(path: Path) -> str | None:
    """Why `path` is not a readable regular file ("no such file", "is a directory"...)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return f"is {file_kind(mode)}, not a regular file"
    return None


class UnreadableFile(InputError):
    """An input that is not a regular file selector may read: `path` and what is wrong."""

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path}: {what}")
        self.path, self.what = path, what


def read_regular_file(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `limit` bytes; otherwise
    `UnreadableFile` saying why.

    Opened without blocking, so a FIFO or a device is refused at once instead of hanging
    (a FIFO) or reading until memory runs out (/dev/zero).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableFile(path, "no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise UnreadableFile(path, "is a directory, expected a file")
        raise UnreadableFile(path, f"is {file_kind(mode)}, not a regular file")
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise UnreadableFile(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UnreadableFile(path, f"larger than {limit // 2**20} MiB; not a file selector reads")
    return data


def check_output(path: Path) -> None:
    """Before a run: refuse an --output the report could not be written to, so a long run
    does not end in 'no such directory'."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise InputError(f"--output {path}: {exc.strerror or exc}") from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise InputError(f"--output {path}: is a directory; give a file name")
        if stat.S_ISSOCK(mode):
            raise InputError(f"--output {path}: is a socket; give a file name")
        if not os.access(path, os.W_OK):
            raise InputError(f"--output {path}: not writable")
        if stat.S_ISREG(mode):
            path = Path(os.path.realpath(path))  # the atomic write goes beside the real file
        else:
            return  # a device or FIFO is written through, not replaced
    directory = path.absolute().parent
    if not directory.is_dir():
        raise InputError(f"--output {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"--output {path}: directory {directory} is not writable")


def write_output_file(path: Path, text: str) -> None:
    """Write a report to `path` as the user means it.

    A regular file is replaced atomically and keeps its permission bits (a new one gets the
    umask's); a symlink is followed, so the link stays and its target is written. A device
    or FIFO (/dev/stdout, /proc/self/fd/N, a named pipe) is written through, never replaced by
    a regular file. Any failure (full disk, file-size limit) is one InputError line.
    """
    check_output(path)
    data = text.encode("utf-8")
    try:
        try:
            st = path.stat()
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return
        if st is not None:
            write_atomic(Path(os.path.realpath(path)), data, mode=stat.S_IMODE(st.st_mode))
        else:
            write_atomic(path, data, mode=0o666 & ~_umask())
    except OSError as exc:
        raise InputError(f"--output {path}: cannot write: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
