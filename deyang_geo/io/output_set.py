"""Output sets: a folder of results that is either complete (a manifest) or visibly incomplete.

A command that writes a folder of results does so inside :func:`output_set`:

- a lock file (``.deyang-geo.lock``) stops a second run writing into the same folder at the
  same time;
- stray temporary files left by a killed run (``.<name>.<random>.tmp<suffix>``) are removed;
- ``INCOMPLETE.txt`` marks the folder as being written until the run ends;
- at the end ``manifest.json`` (every file the run wrote, with its size and SHA-256) is
  written last and the marker removed; a run that fails or is interrupted after writing
  something leaves the marker, and a run that fails before writing anything leaves the folder
  as it found it;
- a rerun of the same command replaces its set: files an earlier run of that command wrote
  and the rerun did not write again are removed (never an input of the run, never a file
  outside the folder); files other commands wrote into the folder stay in the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from deyang_geo import __version__
from deyang_geo.core.errors import InputError, Problem
from deyang_geo.io.files import write_text_atomic

MANIFEST_NAME = "manifest.json"
INCOMPLETE_NAME = "INCOMPLETE.txt"
LOCK_NAME = ".deyang-geo.lock"

#: Temporary files written by :func:`~deyang_geo.io.atomic_path`: ``.<stem>.<random>.tmp<sfx>``.
_TEMPORARY = re.compile(r"^\..+\.tmp(\.[^/]*)?$")

_Snapshot = dict[str, tuple[int, int, int]]


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Return whether ``path`` names a temporary file of an unfinished atomic write.

    Parameters
    ----------
    path
        Any path; only its name is looked at.

    Returns
    -------
    bool
        True for names such as ``.report_layers.abc123.tmp.gpkg``.
    """
    return bool(_TEMPORARY.match(Path(path).name))


def check_complete(folder: str | os.PathLike[str]) -> None:
    """Refuse a result folder (or one inside it) that an unfinished run marked as incomplete.

    Parameters
    ----------
    folder
        A result folder about to be read.

    Raises
    ------
    InputError
        When the folder or one of its two parents holds ``INCOMPLETE.txt``.
    """
    here = Path(folder).resolve()
    for level in (here, *list(here.parents)[:2]):
        marker = level / INCOMPLETE_NAME
        if marker.is_file():
            msg = (f"this result set is incomplete: a run writing into {level} failed or was "
                   f"interrupted ({marker.name} is there); run that command again, then "
                   "build the report")
            raise InputError(Problem(msg, file=str(folder)))


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


def _snapshot(folder: Path) -> _Snapshot:
    out: _Snapshot = {}
    for path in _walk(folder):
        rel = path.relative_to(folder).as_posix()
        if rel in (MANIFEST_NAME, INCOMPLETE_NAME, LOCK_NAME) or is_temporary(path):
            continue
        with contextlib.suppress(OSError):
            st = path.stat()
            out[rel] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def _written(before: _Snapshot, after: _Snapshot) -> list[str]:
    return sorted(rel for rel, stat in after.items() if before.get(rel) != stat)


def remove_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files a killed run left in ``folder`` (and its sub-folders).

    Parameters
    ----------
    folder
        An output folder.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    for path in _walk(Path(folder)):
        if is_temporary(path):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the manifest of a complete output set, or None when there is none (or unreadable).

    Parameters
    ----------
    folder
        An output folder.

    Returns
    -------
    dict or None
        ``{"commands": [...], "files": [{"path", "bytes", "sha256", "written_by"}, ...]}``.
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(folder: str | os.PathLike[str], files: Mapping[str, str]) -> Path:
    """Write ``manifest.json``: every file of the set with its size and SHA-256 (atomically).

    Parameters
    ----------
    folder
        The output folder.
    files
        Path relative to ``folder`` (POSIX separators) -> the command that wrote it.

    Returns
    -------
    Path
        The manifest.
    """
    root = Path(folder)
    entries = [{"path": rel, "bytes": (root / rel).stat().st_size,
                "sha256": _sha256(root / rel), "written_by": files[rel]}
               for rel in sorted(files)]
    data = {"tool": "deyang-geo", "version": __version__, "complete": True,
            "commands": sorted(set(files.values())), "files": entries}
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    return write_text_atomic(root / MANIFEST_NAME, text)


def _acquire_lock(folder: Path) -> IO[str] | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, no protection
        return None
    path = folder / LOCK_NAME
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        msg = f"cannot write into the output folder: {exc.strerror or exc}"
        raise InputError(Problem(msg, file=str(folder))) from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        msg = (f"another deyang-geo run (process {owner}) is writing into this folder; wait "
               "for it to finish or choose another --out")
        raise InputError(Problem(msg, file=str(folder))) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _release_lock(folder: Path, handle: IO[str] | None) -> None:
    if handle is None:
        return
    with contextlib.suppress(OSError):
        (folder / LOCK_NAME).unlink()
    handle.close()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False


@contextlib.contextmanager
def output_set(folder: str | os.PathLike[str], *, command: str,
               inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Iterator[Path]:
    """Write a set of results into ``folder``: locked, marked incomplete until it is complete.

    Parameters
    ----------
    folder
        The output folder (created when missing).
    command
        The name of what writes the set (``"access"``, ``"run"``...), kept in the manifest; a
        rerun of the same command replaces the files that command wrote before.
    inputs
        The run's input files: never removed when the previous set is replaced.

    Yields
    ------
    Path
        The folder, to write into.

    Raises
    ------
    InputError
        When ``folder`` is an existing file, cannot be created or written, or another run is
        writing into it.
    """
    root = Path(folder)
    if root.exists() and not root.is_dir():
        msg = "--out names an existing file, not a folder; give a folder for the results"
        raise InputError(Problem(msg, file=str(root)))
    created = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the output folder: {exc.strerror or exc}"
        raise InputError(Problem(msg, file=str(root))) from None
    handle = _acquire_lock(root)
    marker = root / INCOMPLETE_NAME
    try:
        remove_temporaries(root)
        before = _snapshot(root)
        previous = read_manifest(root)
        (root / MANIFEST_NAME).unlink(missing_ok=True)
        marker.write_text(
            f"deyang-geo {command} is writing this folder, or was interrupted or failed "
            "before finishing: the files here are not a complete set. Run the command again; "
            "manifest.json appears when a set is complete.\n", encoding="utf-8")
        try:
            yield root
        except BaseException:
            if not _written(before, _snapshot(root)):
                marker.unlink(missing_ok=True)
                if previous is not None:  # nothing was touched: the old set stands
                    write_manifest(root, _entries(root, previous))
            raise
        written = _written(before, _snapshot(root))
        files = {}
        if previous is not None:
            _remove_stale(root, previous, command=command, keep=set(written), inputs=inputs)
            files = _entries(root, previous)
        files.update(dict.fromkeys(written, command))
        write_manifest(root, files)
        marker.unlink(missing_ok=True)
    finally:
        _release_lock(root, handle)
        if created:
            with contextlib.suppress(OSError):
                root.rmdir()  # only when empty: a run that wrote nothing leaves no folder


def _entries(root: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Return path -> writer of the manifest's files that still exist."""
    out = {}
    for entry in manifest.get("files", []):
        if isinstance(entry, dict) and entry.get("path"):
            rel = str(entry["path"])
            if (root / rel).is_file() and not is_temporary(rel):
                out[rel] = str(entry.get("written_by", ""))
    return out


def _remove_stale(root: Path, previous: dict[str, Any], *, command: str, keep: set[str],
                  inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Remove the files an earlier run of ``command`` wrote that this run did not write."""
    protected = [Path(p) for p in inputs if p is not None]
    base = root.resolve()
    for entry in previous.get("files", []):
        if not isinstance(entry, dict) or entry.get("written_by") != command:
            continue
        rel = str(entry.get("path", ""))
        if not rel or rel in keep:
            continue
        path = (root / rel)
        try:
            path.resolve().relative_to(base)
        except ValueError:
            continue  # a manifest never makes us touch a file outside the folder
        if not path.is_file() or any(_same_file(path, p) for p in protected):
            continue
        with contextlib.suppress(OSError):
            path.unlink()


__all__ = ["INCOMPLETE_NAME", "LOCK_NAME", "MANIFEST_NAME", "check_complete", "is_temporary",
           "output_set", "read_manifest", "remove_temporaries", "write_manifest"]
