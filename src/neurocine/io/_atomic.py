"""Write a file atomically: into a temporary sibling, renamed into place only when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neurocine.errors import InputError

__all__ = ["atomic_path", "temporary_folder"]


def _umask() -> int:
    """The process umask; read from /proc where it exists (setting it, the portable way, races other threads)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_folder(prefix: str, parent: str | os.PathLike) -> Path:
    """A new empty folder ``parent/PREFIX<random>`` with the permissions the umask gives any new folder.

    :func:`tempfile.mkdtemp` makes it ``drwx------`` whatever the umask; a result folder renamed from
    it would stay unreadable to the rest of a group on a shared server. With umask 022 this one is
    ``drwxr-xr-x``. ``OSError`` (a missing or read-only ``parent``) is left to the caller.

    Examples
    --------
    >>> import tempfile
    >>> folder = temporary_folder(".run.tmp-", tempfile.mkdtemp())
    >>> folder.name.startswith(".run.tmp-"), folder.is_dir()
    (True, True)
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(folder, 0o777 & ~_umask())
    return folder


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (normal file permissions).

    Whatever goes wrong inside the block, the temporary file is removed and ``path`` is left as it
    was; an ``OSError`` becomes one :class:`InputError` line naming ``path``. ``suffix`` ends the
    temporary name (keep the real extension where a writer infers the format from it).
    """
    p = Path(path)
    tmp_name = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=p.parent)
        os.close(fd)
        yield Path(tmp_name)
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, p)
        tmp_name = None
    except OSError as exc:
        raise InputError(f"{p}: cannot be written ({exc.strerror or exc}); expected a writable path") from exc
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.remove(tmp_name)
