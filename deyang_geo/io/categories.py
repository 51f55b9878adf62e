"""Category names as planners write them (Chinese or English, suffixed) mapped to catalog keys."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from deyang_geo.core.errors import InputError
from deyang_geo.core.standards import load_catalog
from deyang_geo.io.validate import (
    ProblemLog,
)

if TYPE_CHECKING:
    pass

from deyang_geo.io.tables import fold_name, fold_name_keep_brackets

__all__ = [
    "category_key",
]


def category_lookup(catalog: Any) -> tuple[dict[str, str], list[str]]:
    """Return normalised label -> catalog key, and the keys, from a standards catalog."""
    if catalog is None:
        catalog = load_catalog()
    categories = getattr(catalog, "categories", catalog)
    keys = [str(k) for k in categories]
    exact: dict[str, str] = {}
    derived: dict[str, set[str]] = {}
    for key in keys:
        entry = categories[key]
        labels = [key]
        for field in ("name_zh", "name_en"):
            value = entry.get(field) if isinstance(entry, Mapping) else getattr(entry, field, None)
            if value:
                labels.append(str(value))
        aliases = (entry.get("aliases") if isinstance(entry, Mapping)
                   else getattr(entry, "aliases", None)) or ()
        labels.extend(str(a) for a in aliases)
        for label in labels:
            exact.setdefault(fold_name_keep_brackets(label), key)
            for variant in _label_variants(label):
                derived.setdefault(variant, set()).add(key)
    lookup = {v: next(iter(ks)) for v, ks in derived.items() if len(ks) == 1}
    lookup.update(exact)
    return lookup, keys


def _label_variants(label: str) -> list[str]:
    """Forms of ``体育健身站(点)`` a planner writes: 体育健身站, 体育健身点, 体育健身站点."""
    text = unicodedata.normalize("NFKC", label).strip()
    out = [fold_name(text), fold_name_keep_brackets(text)]
    match = re.search(r"\((.+?)\)", text)
    if match:
        before, inner, after = text[:match.start()], match.group(1), text[match.end():]
        if len(inner) >= 4:
            out.append(fold_name(inner))
        if len(inner) <= len(before):
            out.append(fold_name(before[:-len(inner)] + inner + after))
    return [v for v in out if v]


def category_keys(values: Sequence[str | None], *, rows: np.ndarray[Any, np.dtype[np.int64]],
                   column: str, log: ProblemLog, catalog: Any,
                   beyond: dict[str, list[str]] | None = None) -> list[str | None]:
    """Catalog keys of the values; with ``beyond``, other categories are kept as written.

    ``beyond`` collects each category the catalog does not know (药店, 游泳池...) with a
    hint when it looks like a catalog name; a name that several categories end with stays an
    error, since it means a catalog category ambiguously.
    """
    lookup, keys = category_lookup(catalog)
    out: list[str | None] = []
    for value, row in zip(values, rows, strict=True):
        if value is None:
            log.add("category is missing", row=int(row), column=column, kind="category is missing")
            out.append(None)
            continue
        key = lookup.get(fold_name_keep_brackets(value)) or lookup.get(fold_name(value))
        if key is None:
            key = _by_suffix(fold_name(value), lookup)
        if key is None:
            close = difflib.get_close_matches(fold_name(value), list(lookup), n=1, cutoff=0.6)
            hint = f"; did you mean {lookup[close[0]]!r}?" if close else ""
            several = _suffix_keys(fold_name(value), lookup)
            # a value written like a key and close to one is a typo, not a new category
            typo = bool(re.fullmatch(r"[a-z0-9]+(?:_[a-z0-9]+)+", value.strip())) and bool(
                difflib.get_close_matches(value.strip(), keys, n=1, cutoff=0.85))
            named = any(ch.isalpha() for ch in value)  # "??", "-" or "0" name nothing
            if beyond is not None and len(several) < 2 and not typo and named:
                text = unicodedata.normalize("NFKC", value).strip()
                beyond.setdefault(text, []).append(hint.lstrip("; "))
                out.append(text)
                continue
            what = (f"ambiguous category {value!r}: it may mean {', '.join(sorted(several))}; "
                    "write the category's full name or key" if len(several) > 1 else
                    f"unknown category {value!r}: not a key or name in the standards catalog "
                    f"(keys: {', '.join(keys)}){hint}")
            log.add(what, row=int(row), column=column, kind="unknown category")
        out.append(key)
    return out


def beyond_catalog_notice(label: str, beyond: Mapping[str, list[str]]) -> str:
    """One line listing the categories beyond the catalog and their counts."""
    parts = []
    for name in sorted(beyond):
        hints = sorted({h for h in beyond[name] if h})
        parts.append(f"{name} ({len(beyond[name])}{'; ' + hints[0] if hints else ''})")
    return (f"{label}: {len(beyond)} categories not in the standards catalog are analysed "
            f"with the study's default threshold, and no plan target applies to them: "
            f"{', '.join(parts)}")


def _suffix_keys(value: str, lookup: Mapping[str, str]) -> set[str]:
    """Keys of every category whose Chinese label ends with ``value``."""
    if len(value) < 3 or value.isascii():
        return set()
    return {key for label, key in lookup.items() if label.endswith(value)}


def _by_suffix(value: str, lookup: Mapping[str, str]) -> str | None:
    """Return the key of the only category whose Chinese label ends with ``value`` (卫生室)."""
    keys = _suffix_keys(value, lookup)
    return keys.pop() if len(keys) == 1 else None


def category_key(value: str, *, catalog: Any = None) -> str:
    """Return the catalog key of a category written as a key or a Chinese or English name.

    ``"体育健身站(点)"``, ``"体育健身点"``, ``"Fitness station"`` and ``"fitness_station"`` all
    give ``"fitness_station"``.

    Parameters
    ----------
    value
        The category as a planner wrote it.
    catalog
        The standards catalog; ``None`` loads the packaged one.

    Returns
    -------
    str
        The catalog key.

    Raises
    ------
    InputError
        If the value names no category of the catalog (the message suggests the nearest key).
    """
    log = ProblemLog(None)
    (key,) = category_keys([value], rows=np.array([1], dtype=np.int64), column="category",
                            log=log, catalog=catalog)
    if key is None:
        raise InputError(log.problems()[0].message)
    return key

