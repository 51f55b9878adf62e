"""Reading planners' files and writing outputs atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` and move it onto ``path`` only on success.

    A run that fails half-way leaves no half-written file: the temporary file is removed and any
    earlier file at ``path`` is kept as it was.

    Parameters
    ----------
    path
        The final destination. Its folder is created if needed.

    Yields
    ------
    Path
        A path in the same folder (same file system) with the same suffix, to write to.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(final.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".tmp{suffixes}",
                                    dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let writers that refuse to overwrite (GeoPackage drivers) create it
    try:
        yield tmp
        if not tmp.exists():
            msg = f"nothing was written to {final}"
            raise RuntimeError(msg)
        tmp.replace(final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path.

    Parameters
    ----------
    path
        Destination file.
    text
        The content.
    encoding
        Text encoding; ``"utf-8-sig"`` writes the byte-order mark that Excel needs to show
        Chinese in a CSV file.

    Returns
    -------
    Path
        The destination.
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding, newline="")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    Parameters
    ----------
    path
        Destination file.
    data
        The content.

    Returns
    -------
    Path
        The destination.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
