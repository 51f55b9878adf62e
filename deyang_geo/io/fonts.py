"""Figures that draw Chinese: a CJK font found (or a clear English fallback), written safely."""

from __future__ import annotations

import functools
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deyang_geo.core import settings
from deyang_geo.core.errors import InputError
from deyang_geo.core.style import Lang
from deyang_geo.io.files import atomic_path

log = logging.getLogger("deyang_geo")

#: Font families tried in this order (Simplified Chinese first).
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)

#: Folders searched for CJK font files that matplotlib's font cache may not know yet (fonts
#: installed after matplotlib built its cache).
_FONT_DIRS: tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto",
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/noto-cjk",
    "/usr/share/fonts/google-noto-cjk",
    "/usr/share/fonts/truetype/wqy",
    "/usr/share/fonts/wqy-zenhei",
    "/usr/share/fonts/truetype/droid",
    "/usr/share/fonts/truetype/arphic",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)
_FILE_HINTS = ("cjk", "wqy", "droidsansfallback", "msyh", "simhei", "pingfang", "sourcehan",
               "notosanssc", "uming", "ukai")
#: Characters a font must have to count as a Chinese font.
PROBE_TEXT = "德阳社区服务覆盖率"


@dataclass(frozen=True)
class CjkFont:
    """A font that can draw Chinese: its matplotlib family name and file."""

    family: str
    path: Path


def _has_glyphs(path: str, text: str) -> bool:
    from matplotlib import ft2font

    try:
        font = ft2font.FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in text)


def _register_font_files() -> None:
    """Add CJK font files from the usual folders to matplotlib's font list (no full rebuild)."""
    from matplotlib import font_manager

    known = {Path(f.fname).resolve() for f in font_manager.fontManager.ttflist}
    for folder in _FONT_DIRS:
        root = Path(folder)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            name = path.name.lower()
            if path.suffix.lower() not in (".ttf", ".otf", ".ttc"):
                continue
            if not any(hint in name for hint in _FILE_HINTS) or path.resolve() in known:
                continue
            try:
                font_manager.fontManager.addfont(str(path))
            except (OSError, RuntimeError, ValueError):
                log.debug("could not load font %s", path)


@functools.cache
def find_cjk_font() -> CjkFont | None:
    """Return a font that draws Chinese, or ``None`` when the system has none.

    The environment variable ``DEYANG_CJK_FONT`` may name a font file to use first. Otherwise
    the families in :data:`CJK_FAMILIES` are looked up in matplotlib's font list (after adding
    CJK font files found in the usual system folders) and the first whose file really has the
    glyphs of :data:`PROBE_TEXT` is returned.

    Returns
    -------
    CjkFont or None
        The font's family name (registered with matplotlib) and file.
    """
    from matplotlib import font_manager

    override = os.environ.get("DEYANG_CJK_FONT")
    if override and Path(override).is_file() and _has_glyphs(override, PROBE_TEXT):
        font_manager.fontManager.addfont(override)
        family = font_manager.FontProperties(fname=override).get_name()
        return CjkFont(family, Path(override))

    def lookup() -> CjkFont | None:
        by_name: dict[str, str] = {}
        for entry in font_manager.fontManager.ttflist:
            if entry.style == "normal" and entry.weight in (400, "normal", "regular", 500):
                by_name.setdefault(entry.name, entry.fname)
        for family in CJK_FAMILIES:
            path = by_name.get(family)
            if path and _has_glyphs(path, PROBE_TEXT):
                return CjkFont(family, Path(path))
        return None

    found = lookup()
    if found is None:
        _register_font_files()
        found = lookup()
    return found


def cjk_family_or_warn() -> str | None:
    """Return the CJK family name, or log a clear warning and return ``None``.

    Returns
    -------
    str or None
        The family name for matplotlib, ``None`` when Chinese cannot be drawn (callers then
        fall back to English labels rather than drawing empty boxes).
    """
    font = find_cjk_font()
    if font is None:
        log.warning(
            "no font that can draw Chinese was found (install fonts-noto-cjk, or set "
            "DEYANG_CJK_FONT to a .ttf/.otf/.ttc file): figures use English labels only")
        return None
    return font.family


__all__ = [
    "CJK_FAMILIES",
    "PROBE_TEXT",
    "CjkFont",
    "FontWarning",
    "cjk_family_or_warn",
    "figure_language",
    "find_cjk_font",
    "save_figure",
]


class FontWarning(UserWarning):
    """No font that draws Chinese was found: figures fall back to English labels."""


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF
            or 0x20000 <= code <= 0x2FA1F)


def english_only(text: str) -> str:
    """Drop the words of ``text`` that hold Chinese, for figures drawn without a CJK font.

    A bilingual text keeps its English half (``"15分钟服务圈 15-minute service circle"`` gives
    ``"15-minute service circle"``), so no empty boxes are drawn.

    Parameters
    ----------
    text
        Any label or title.

    Returns
    -------
    str
        The words without Chinese characters, separators such as ``/`` trimmed.
    """
    kept = [word for word in text.split() if not any(_is_cjk(ch) for ch in word)]
    return " ".join(kept).strip(" /|-—").strip()


def figure_language(lang: Lang) -> tuple[Lang, str | None]:
    """Return the language figures can really use and the CJK font family (or ``None``).

    Parameters
    ----------
    lang
        The language asked for.

    Returns
    -------
    tuple
        ``(lang, family)``: ``lang`` becomes ``"en"`` with a :class:`FontWarning` when Chinese
        is asked for but no CJK font exists, rather than drawing empty boxes.
    """
    family = cjk_family_or_warn()
    if family is None and lang != "en":
        warnings.warn("no font that can draw Chinese was found (install fonts-noto-cjk or set "
                      "DEYANG_CJK_FONT): figure labels fall back to English",
                      FontWarning, stacklevel=3)
        return "en", None
    return lang, family


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int | None = None) -> Path:
    """Write a figure as PNG or PDF (by the file's suffix), atomically.

    Parameters
    ----------
    fig
        A matplotlib figure.
    path
        ``.png`` or ``.pdf`` file.
    dpi
        Resolution of PNG files (default ``settings.figure_dpi``, print quality).

    Returns
    -------
    Path
        The written file.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".png", ".pdf"):
        msg = f"figures are written as .png or .pdf, got {target.name!r}"
        raise InputError(msg)
    if fig.canvas is None or type(fig.canvas).__name__ == "FigureCanvasBase":
        FigureCanvasAgg(fig)
    dpi = settings.figure_dpi if dpi is None else dpi
    metadata: dict[str, Any] = ({"Creator": "deyang-geo", "CreationDate": None}
                                if suffix == ".pdf" else {"Software": "deyang-geo"})
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=suffix[1:], dpi=dpi, metadata=metadata)
    return target
