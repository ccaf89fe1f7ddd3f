"""Nothing half-written: the one way asdlib writes a file or a folder of results.

* :func:`write_atomic` writes a file through a temporary name in the same folder and a rename, so a
  reader sees the old file or the new one, never a part. The file gets the permissions a plain
  ``open(path, "w")`` would give (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.
* :func:`staged_folder` builds a whole folder beside its final place and swaps it in when complete,
  so a folder of results (score files and the ``summary.json`` that describes them) is always one
  consistent set: an interrupted writer leaves the previous folder, or none, plus a hidden
  ``.<name>.tmp-*`` folder that :func:`clean_stale` removes at the next start.
* :func:`exclusive` locks a folder (a run folder) against a second writer.
* :func:`check_space` refuses a write that cannot fit, and :func:`naming` gives a failed write's error
  (a full disk's ``ENOSPC`` names no file) the path it was writing.

Imports only the standard library.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

_TMP_MARK = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a temporary folder named after a writer that is gone is stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def check_space(folder: str | Path, needed: int, what: str, hint: str = "free some") -> None:
    """Refuse, naming ``folder``, to write ``needed`` bytes of ``what`` where fewer are free."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"{folder}: no space for {what} ({needed / 1e6:.1f} MB needed, "
                                    f"{free / 1e6:.1f} MB free); {hint}")


def naming(err: OSError, path: str | Path) -> OSError:
    """``err``, given ``path`` as its file name where it is a system error naming none."""
    return err if err.filename or err.errno is None else OSError(err.errno, err.strerror, str(path))


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text encoded as UTF-8) to ``path`` atomically; returns the path.

    The parent folder is created if missing. On any error the temporary file is removed and the
    previous content of ``path`` (if any) is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{_TMP_MARK}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise naming(err, path) from None
        raise
    return path


@contextlib.contextmanager
def staged_folder(final: str | Path):
    """Yield an empty folder beside ``final``; on success it replaces ``final`` as a whole.

    Usage::

        with staged_folder(run / "results" / "last" / "cat") as folder:
            ...write every file into folder...

    On an exception the staged folder is removed and ``final`` is untouched. The swap renames the
    old folder aside, renames the new one in, then deletes the old one: a reader finds the complete
    old set, the complete new set, or (for an instant) no folder, never a mixture.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{final.name}{_TMP_MARK}", dir=final.parent))
    os.chmod(staged, 0o777 & ~_umask())
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old{_TMP_MARK}", dir=final.parent))
        os.replace(final, old / final.name)
    os.replace(staged, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_stale(folder: str | Path) -> list[Path]:
    """Remove what an interrupted :func:`write_atomic` or :func:`staged_folder` left directly in
    ``folder`` (hidden ``.<name>.tmp-*`` files and folders). Returns what was removed.

    Call it only where no other writer can be at work at the same time (e.g. under the run lock).
    """
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(".") and _TMP_MARK in path.name:
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
                removed.append(path)
    return removed


@contextlib.contextmanager
def exclusive(folder: str | Path):
    """Hold ``folder``'s lock (``folder/.lock``, created if missing) for the duration, or refuse.

    Two processes writing one run folder would each do the whole job and interleave their files: the
    second one is refused at once, with the first one's process id in the message. The lock is an
    ``fcntl`` lock, released by the system when its holder exits, however it exits.
    """
    import fcntl

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ValueError(f"{folder}: in use by another asdlib process (pid {holder}); wait for it to "
                             "finish, or choose another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()
