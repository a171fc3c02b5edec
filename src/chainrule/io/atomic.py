"""Atomic file replacement: a crash while writing never destroys the last good file.

A temporary file is written beside its target and renamed over it, so readers see the
old file or the new one, never half of one. Temporary names are unique per run and say
which process owns them::

    .<name>.<pid>.<8 hex digits>.tmp[.<extension>]

(``<name>`` shortened and hashed when the target's name is long, so a temporary name
always fits the folder's ``NAME_MAX``). ``sweep_stale_temporaries`` removes only those
whose process is gone, never another live run's. Files are created with mode
``0o666`` and the kernel applies the umask, as ``open()`` in any other tool does.
``atomic_group`` writes several files that land together: every temporary is written
and fsynced first, then all are renamed; a failure before the renames leaves every old
file untouched and no temporaries behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import signal
import threading
from collections.abc import Iterator
from typing import BinaryIO

# Room a temporary name needs beyond its shortened target name: the leading and
# separating dots, a pid (at most 10 digits), 8 hex digits, ".tmp" and an extension of
# up to 8 characters (with its dot), so the shortening never depends on the pid.
_TAIL_ROOM = 1 + 1 + 10 + 1 + 8 + 4 + 8
_TAIL = re.compile(r"(\d{1,10})\.[0-9a-f]{8}\.tmp(\.[A-Za-z0-9]{1,7})?")
# A temporary of a temporary: ``save(obj, group.path(target))`` writes its own atomic
# temporary beside the reserved one, named ``..<name>.<pid>.<hex>.tmp.<pid>.<hex>.tmp``.
_NESTED = re.compile(r"(\d{1,10})\.[0-9a-f]{8}\.tmp\.(\d{1,10})\.[0-9a-f]{8}\.tmp")
_HASHED = 16  # hex digits of SHA-256 kept when a long name is shortened
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_DEFAULT_NAME_MAX = 255


def name_max(folder: str) -> int:
    """The longest file name (in bytes) ``folder``'s file system accepts (255 if unknown)."""
    try:
        limit = os.pathconf(folder or os.curdir, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return _DEFAULT_NAME_MAX
    return limit if limit and limit > 0 else _DEFAULT_NAME_MAX


def _prefix(basename: str, limit: int) -> str:
    """``.<name>.`` for a target's temporaries: the name itself, or, when it would not
    leave room for the tail, its first bytes plus a hash of the whole name."""
    encoded = os.fsencode(basename)
    room = limit - _TAIL_ROOM
    if len(encoded) > room:
        digest = hashlib.sha256(encoded).hexdigest()[:_HASHED]
        # os.fsdecode keeps a cut multi-byte character as surrogate escapes, which encode
        # back to the same bytes, so the prefix is exactly that many bytes.
        encoded = encoded[: max(room - _HASHED - 1, 0)] + b"~" + digest.encode()
    return "." + os.fsdecode(encoded) + "."


def temporary_prefix(path: str | os.PathLike) -> str:
    """The path prefix every temporary of ``path`` starts with (folder included)."""
    target = os.fspath(path)
    folder = os.path.dirname(target)
    return os.path.join(folder, _prefix(os.path.basename(target), name_max(folder or os.curdir)))


def _create_temporary(target: str, extension: str = "") -> tuple[str, int]:
    """A new, empty temporary beside ``target``: (its path, an open write descriptor)."""
    if extension and not re.fullmatch(r"\.[A-Za-z0-9]{1,7}", extension):
        raise ValueError(f"extension expected like '.png', got {extension!r}")
    prefix = temporary_prefix(target)
    for _ in range(100):
        name = f"{prefix}{os.getpid()}.{secrets.token_hex(4)}.tmp{extension}"
        try:
            # Mode 0o666: the kernel applies the umask, exactly as for any other new file.
            return name, os.open(name, _OPEN_FLAGS, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"{target}: could not find a free temporary name beside it")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _folder_of(target: str) -> str:
    return os.path.dirname(target) or os.curdir


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    The temporary file lives in the same folder so ``os.replace`` is a same-filesystem
    rename, which is atomic: readers see the old file or the new one, never half of
    one. On any exception (Ctrl-C included) the temporary file is removed and ``path``
    is untouched.
    """
    target = os.fspath(path)
    temporary, descriptor = _create_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
    _fsync_folder(_folder_of(target))


class AtomicGroup:
    """Temporaries for several targets, renamed together by ``atomic_group`` on success."""

    def __init__(self) -> None:
        self._members: list[tuple[str, str]] = []  # (temporary, target)

    def path(self, target: str | os.PathLike, extension: str = "") -> str:
        """Reserve a temporary for ``target`` and return its path, for writers that want
        a file name (``extension`` such as ``'.png'`` for those that read the format
        from it). The file exists, empty, until the writer replaces or fills it."""
        name, descriptor = _create_temporary(os.fspath(target), extension)
        os.close(descriptor)
        self._members.append((name, os.fspath(target)))
        return name

    def write_bytes(self, target: str | os.PathLike, data: bytes) -> None:
        """Write ``data`` to a new temporary for ``target``."""
        name, descriptor = _create_temporary(os.fspath(target))
        self._members.append((name, os.fspath(target)))
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)

    def _commit(self) -> None:
        for temporary, _ in self._members:
            _fsync_file(temporary)
        # The renames are the only step that changes what a reader sees; Ctrl-C or a
        # SIGTERM is held back until all of them are done, so the files land together.
        with _signals_held():
            for temporary, target in self._members:
                os.replace(temporary, target)
        for folder in dict.fromkeys(_folder_of(target) for _, target in self._members):
            _fsync_folder(folder)

    def _discard(self) -> None:
        for temporary, _ in self._members:
            _remove(temporary)


@contextlib.contextmanager
def atomic_group() -> Iterator[AtomicGroup]:
    """Write several files so that they land together or not at all::

        with atomic_group() as group:
            save(model, group.path("model.safetensors"))
            group.write_bytes("model.history.json", document)

    Inside the block every output goes to its own temporary; when the block ends, all
    of them are fsynced and only then renamed over their targets. An exception inside
    the block (a full disk, Ctrl-C) removes every temporary and leaves the old files
    untouched.
    """
    group = AtomicGroup()
    try:
        yield group
        group._commit()
    except BaseException:
        group._discard()
        raise


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one we may not signal counts as alive)."""
    if pid == os.getpid():
        return True
    if pid < 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True


def sweep_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the temporaries of ``path`` left by runs whose process has died (a kill,
    a power cut); keep those of live processes. Returns the paths removed."""
    prefix = temporary_prefix(path)
    folder, start = os.path.split(prefix)
    try:
        names = os.listdir(folder or os.curdir)
    except OSError:
        return []
    removed = []
    for name in names:
        if name.startswith(start):
            match = _TAIL.fullmatch(name[len(start) :])
        elif name.startswith("." + start):
            match = _NESTED.fullmatch(name[len(start) + 1 :])
        else:
            continue
        if match is None or _alive(int(match.group(1))):
            continue
        stale = os.path.join(folder, name)
        try:
            os.unlink(stale)
        except OSError:
            continue
        removed.append(stale)
    return removed


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Block SIGINT, SIGTERM and SIGHUP for the block (main thread, POSIX only)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}
    previous = mask(signal.SIG_BLOCK, wanted)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


def _fsync_file(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
