"""Reading a user's file safely: only regular files, never more bytes than a cap.

Every reader of a user-named path (CSV data, model files, checkpoints, explain specs)
goes through here, so a FIFO never blocks a command, a device such as ``/dev/zero`` is
refused before a byte is read, and a file that grows or lies about its size (``st_size``
is 0 for ``/proc`` files) is still read only up to the cap.
"""

from __future__ import annotations

import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """``'a FIFO (named pipe)'`` and so on, for what a ``st_mode`` says a path is."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def read_regular_file(
    path: str | os.PathLike,
    *,
    what: str,
    error: type[Exception],
    max_bytes: int,
) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes`` bytes.

    Raises ``error`` (one line, naming the path and what it is) for a missing file, a
    folder, a FIFO, a device, an unreadable file, or one longer than ``max_bytes``. The
    file is opened non-blocking so that opening a FIFO cannot hang, and its kind is read
    from the open descriptor, so a path swapped between check and open is still caught.
    """
    name = os.fspath(path)
    try:
        descriptor = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, not {what}") from None
    except OSError as failure:
        raise error(f"{name}: cannot read it ({failure.strerror})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{name}: is {kind_of(mode)}, not {what}; give a regular file")
        chunks: list[bytes] = []
        total = 0
        while True:
            # Read one byte past the cap so that "exactly at the cap" and "over it" differ.
            chunk = os.read(descriptor, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise error(f"{name}: larger than the {max_bytes}-byte limit for {what}")
        return b"".join(chunks)
    except OSError as failure:
        raise error(f"{name}: cannot read it ({failure.strerror})") from None
    finally:
        os.close(descriptor)
