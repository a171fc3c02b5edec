"""The exceptions the ``chainrule`` command turns into one-line messages, and the
up-front check of every file a command will write (``plan_outputs``)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from .._regular_file import kind_of
from ..io.atomic import name_max, temporary_prefix


class UsageError(Exception):
    """A mistake in what the user asked for: reported in one line, exit code 2."""


@dataclass(frozen=True)
class _File:
    """A path as the flag named it, and the file it really is."""

    flag: str
    path: str
    real: str  # os.path.realpath: symlinked folders and files, '..', './' resolved
    inode: tuple[int, int] | None  # (st_dev, st_ino) when it exists: hard links too

    @classmethod
    def of(cls, flag: str, path: str) -> _File:
        try:
            info = os.stat(path)
            inode: tuple[int, int] | None = (info.st_dev, info.st_ino)
        except (OSError, ValueError):
            inode = None
        return cls(flag, path, os.path.realpath(path), inode)

    def same_as(self, other: _File) -> bool:
        return self.real == other.real or (self.inode is not None and self.inode == other.inode)


def same_file(first: str, second: str) -> bool:
    """Whether two paths name one file (resolving links, '..', and hard links)."""
    return _File.of("", first).same_as(_File.of("", second))


def check_output(path: str, flag: str) -> None:
    """Raise UsageError unless ``path`` can be written atomically, checked before any
    work so that a long run does not end in an error: it is a regular file or a new
    name (never a folder, FIFO or device, which the rename would replace), its folder
    exists as the OS resolves it ('..' after a missing folder fails) and is writable,
    and the name and the temporary name beside it fit the folder's NAME_MAX."""
    if not path:
        raise UsageError(f"{flag}: expected a file name, got an empty one")
    name = os.path.basename(path)
    if name in ("", os.curdir, os.pardir):
        raise UsageError(f"{flag} {path}: is a folder; expected a file name")
    folder = os.path.dirname(path) or os.curdir
    too_long = False
    try:
        mode: int | None = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new name, or a folder problem that _check_folder names
    except OSError as error:
        if error.errno != errno.ENAMETOOLONG:
            raise UsageError(f"{flag} {path}: {error.strerror}") from None
        mode, too_long = None, True  # the name or the whole path: said below
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"{flag} {path}: is a folder; expected a file name")
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(
            f"{flag} {path}: is {kind_of(mode)}; expected a regular file or a new name "
            "(writing would replace it)"
        )
    _check_folder(path, flag, folder)
    limit = name_max(folder)
    size = len(os.fsencode(name))
    if size > limit:
        raise UsageError(
            f"{flag} {path}: the file name is {size} bytes long; the folder allows at most {limit}"
        )
    if too_long:
        raise UsageError(f"{flag} {path}: the path is longer than the system allows")
    # The temporary names shorten long targets, so this holds; checked for odd file systems.
    temporary = os.path.basename(temporary_prefix(path)) + "4294967295.00000000.tmp.png"
    if len(os.fsencode(temporary)) > limit:
        raise UsageError(f"{flag} {path}: the folder allows names of only {limit} bytes")


def _check_folder(path: str, flag: str, folder: str) -> None:
    # os.stat on the folder as written, not os.path.abspath: the OS resolves
    # 'nowhere/..' by looking up 'nowhere' first, and so must we.
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        hint = (
            " (a '..' after a missing folder does not cancel it)"
            if os.pardir in folder.split(os.sep)
            else ""
        )
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist{hint}") from None
    except OSError as error:
        if error.errno == errno.ENOTDIR:
            raise UsageError(f"{flag} {path}: {folder} is not a folder") from None
        raise UsageError(f"{flag} {path}: the folder {folder}: {error.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise UsageError(f"{flag} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write to the folder {folder}")


def plan_outputs(inputs: Mapping[str, str | None], outputs: Mapping[str, str | None]) -> None:
    """Check every file a command will write against everything it reads, before any work.

    ``inputs`` and ``outputs`` map a flag (``"--out"``, ``"DATA.csv"``, …) to a path
    (``None``: not given; an empty output name is an error). Raises UsageError,
    naming both flags, when an output could not be written (see ``check_output``), is
    the same file as an input, or is the same file as another output. "The same file"
    is decided by the file it really is: ``os.path.realpath`` (symlinked folders,
    ``./``, ``..``) and, for files that exist, the device and inode numbers (hard links).
    """
    sources = [_File.of(flag, path) for flag, path in inputs.items() if path]
    planned: list[_File] = []
    for flag, path in outputs.items():
        if path is None:
            continue
        check_output(path, flag)
        target = _File.of(flag, path)
        for source in sources:
            if target.same_as(source):
                raise UsageError(
                    f"{flag} {path}: would overwrite the input {source.flag} {source.path} "
                    "(the same file); choose another name"
                )
        for other in planned:
            if target.same_as(other):
                raise UsageError(
                    f"{flag} {path}: is the same file as {other.flag} {other.path}; "
                    "each output needs its own file"
                )
        planned.append(target)
