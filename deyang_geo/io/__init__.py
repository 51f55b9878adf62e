"""Files in and out: planners' tables and geodata read as they come, outputs written safely.

Modules:

- ``tables``: CSV / Excel in UTF-8, BOM or GBK, Chinese or English headers (``read_table``);
- ``points``: facilities, communities and candidates as WGS-84 points or polygons;
- ``categories``: category names as planners write them mapped to catalog keys;
- ``validate``: collect-then-report checks naming file, row and column;
- ``files``: atomic writing (``atomic_path``) and formula-safe CSVs (``write_csv_atomic``);
- ``tables_zh``: Chinese-first tables (headers, values, rounding) and their reading back;
- ``exports``: KML and GCJ-02 GeoJSON for Amap, Tianditu and Google Earth users;
- ``output_set``: output folders complete (``manifest.json``) or visibly incomplete;
- ``fonts``: a font that draws Chinese for printable figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deyang_geo.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from deyang_geo.io.categories import (
        category_key,
    )
    from deyang_geo.io.files import (
        atomic_path,
        formula_safe,
        formula_safe_cell,
        write_bytes_atomic,
        write_csv_atomic,
        write_text_atomic,
    )
    from deyang_geo.io.points import (
        read_candidates,
        read_communities,
        read_facilities,
    )
    from deyang_geo.io.tables import (
        COLUMN_ALIASES,
        read_table,
    )

#: Where each re-exported name lives: loaded on first use, so importing ``io.files`` alone does
#: not import the point readers and their libraries (geopandas).
_EXPORTS: dict[str, str] = {
    "category_key": "deyang_geo.io.categories",
    "atomic_path": "deyang_geo.io.files",
    "formula_safe": "deyang_geo.io.files",
    "formula_safe_cell": "deyang_geo.io.files",
    "write_bytes_atomic": "deyang_geo.io.files",
    "write_csv_atomic": "deyang_geo.io.files",
    "write_text_atomic": "deyang_geo.io.files",
    "read_candidates": "deyang_geo.io.points",
    "read_communities": "deyang_geo.io.points",
    "read_facilities": "deyang_geo.io.points",
    "COLUMN_ALIASES": "deyang_geo.io.tables",
    "read_table": "deyang_geo.io.tables",
}


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())


__all__ = [
    "COLUMN_ALIASES",
    "atomic_path",
    "category_key",
    "formula_safe",
    "formula_safe_cell",
    "read_candidates",
    "read_communities",
    "read_facilities",
    "read_table",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_text_atomic",
]
