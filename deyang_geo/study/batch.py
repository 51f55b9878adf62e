"""A study over many areas at once, one Dask task per area: what ``deyang-geo batch`` calls.

The study file is the single-area study; an areas file gives one polygon per area. The OSM
source is split once into per-area extracts (:mod:`deyang_geo.network.split`), the study's tables
are read once and cut per area (communities and candidates inside the polygon, facilities
within a margin around it, since people cross boundaries), and each area runs
:func:`deyang_geo.study.pipeline.run_study` into ``OUT/<area id>/`` on a Dask cluster: a local one
by default, or an existing one given its scheduler address.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from deyang_geo import __version__, io
from deyang_geo.core.crs import utm_crs
from deyang_geo.core.errors import ConfigError, InputError, Problem
from deyang_geo.core.standards import load_catalog
from deyang_geo.io.files import atomic_path, dumps_json, fixed_file_dates, write_text_atomic
from deyang_geo.io.output_set import INCOMPLETE_NAME, output_set, read_manifest
from deyang_geo.network.boundary import osm_read_bbox
from deyang_geo.network.split import split_osm_file
from deyang_geo.outputs.batch_map import batch_map
from deyang_geo.study import pipeline
from deyang_geo.study.config import InputFile, load_study

if TYPE_CHECKING:
    import geopandas as gpd

    from deyang_geo.study.config import StudyConfig

log = logging.getLogger("deyang_geo")

#: The area's batch record (fingerprint and merged-table rows), written inside its output
#: set, so listed in its ``manifest.json``: the manifest, written last, says the area is done.
AREA_RECORD = "_batch_area.json"
#: The marker of earlier versions (removed when an area is recomputed).
_LEGACY_DONE_FILE = "_batch_done.json"
#: The work folder (per-area extracts and tables) inside the output folder.
WORK_FOLDER = "_batch_work"
#: Merged tables and map written into the output folder.
MERGED_TABLE = "batch_coverage.csv"
AREAS_TABLE = "batch_areas.csv"
OVERVIEW_MAP = "batch_map.html"
#: Default distance in metres outside an area within which facilities still serve it.
FACILITY_MARGIN_M = 1000.0

_BAD_ID = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass(frozen=True)
class AreaOutcome:
    """How one area of a batch went.

    Attributes
    ----------
    area_id
        The area's id (its folder name).
    status
        ``"ok"`` (computed now), ``"skipped"`` (complete from an earlier run) or ``"failed"``.
    failure
        ``"input"`` (its data cannot give a result: no streets, no communities...),
        ``"internal"`` (a bug or a lost worker), or ``""``.
    message
        The error message of a failed area, else ``""``.
    seconds
        Time the area's task took (0 when skipped).
    rows
        Its rows of the merged table (one per category).
    warnings
        Warnings the area's run raised (data problems worth a look).
    worker_peak_rss_mb
        Peak resident memory of the worker process so far, in MB (0 when skipped).
    """

    area_id: str
    status: str
    failure: str = ""
    message: str = ""
    seconds: float = 0.0
    rows: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    worker_peak_rss_mb: float = 0.0


@dataclass(frozen=True)
class BatchResult:
    """Everything a batch produced.

    Attributes
    ----------
    out_dir
        The output folder.
    areas
        One outcome per area, in the areas file's order.
    table
        The merged table: one row per area and category (a failed area has one row with its
        message).
    written
        Merged files written, by kind.
    split_seconds
        Time of the OSM split (0 when every area was complete already).
    """

    out_dir: Path
    areas: tuple[AreaOutcome, ...]
    table: pd.DataFrame
    written: dict[str, Path] = field(default_factory=dict)
    split_seconds: float = 0.0

    @property
    def failed(self) -> tuple[AreaOutcome, ...]:
        """Return the areas that failed."""
        return tuple(a for a in self.areas if a.status == "failed")

    @property
    def exit_code(self) -> int:
        """Return 0 when every area succeeded, 2 when some failed for their input, else 1."""
        if not self.failed:
            return 0
        return 2 if all(a.failure == "input" for a in self.failed) else 1

    def summary_line(self) -> str:
        """Return a one-line summary."""
        n = {s: sum(a.status == s for a in self.areas) for s in ("ok", "skipped", "failed")}
        return (f"{len(self.areas)} areas: {n['ok']} computed, {n['skipped']} complete from an "
                f"earlier run, {n['failed']} failed; merged tables and map in {self.out_dir}")


# --------------------------------------------------------------------------------------------
# areas


def read_areas(path: str | os.PathLike[str], *, id_column: str) -> gpd.GeoDataFrame:
    """Read the areas file: one polygon per area with a unique id usable as a folder name.

    Parameters
    ----------
    path
        Any vector file geopandas reads (GeoJSON, GeoPackage, Shapefile...).
    id_column
        The column holding the area ids.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``area_id`` (str) and the file's own, polygons in WGS-84, file order.

    Raises
    ------
    InputError
        Naming the file, row and column of every problem found.
    """
    file = str(path)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own errors for unreadable files
        raise InputError(Problem(f"cannot read the areas file ({exc})", file=file)) from None
    if id_column not in gdf.columns:
        have = ", ".join(repr(str(c)) for c in gdf.columns if c != "geometry")
        raise InputError(Problem(f"no column {id_column!r} (--area-id-column); the file has: "
                                 f"{have}", file=file, column=id_column))
    gdf = gdf.set_crs("EPSG:4326") if gdf.crs is None else gdf.to_crs("EPSG:4326")
    problems: list[Problem] = []
    ids = []
    seen: dict[str, int] = {}
    for i, (value, geom) in enumerate(zip(gdf[id_column], gdf.geometry, strict=True)):
        row = i + 1
        text = "" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else str(value).strip()
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))
        if not text:
            problems.append(Problem("empty area id", file=file, row=row, column=id_column))
        elif _BAD_ID.search(text) or text in {".", ".."} or text.startswith(("_", ".")):
            problems.append(Problem(f"area id {text!r} cannot be a folder name (no / \\ : * ? "
                                    '" < > |, not starting with _ or .)', file=file, row=row,
                                    column=id_column))
        elif text in seen:
            problems.append(Problem(f"area id {text!r} repeats row {seen[text]}", file=file,
                                    row=row, column=id_column))
        else:
            seen[text] = row
        if geom is None or geom.is_empty or shapely.get_type_id(geom) not in (3, 6):
            problems.append(Problem("not a polygon", file=file, row=row, column="geometry"))
        ids.append(text)
    if problems:
        raise InputError(problems)
    geoms = shapely.make_valid(np.asarray(gdf.geometry.values, dtype=object))
    out = gdf.drop(columns="geometry").assign(area_id=ids)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
                            crs="EPSG:4326")


# --------------------------------------------------------------------------------------------
# per-area inputs


def _fingerprint(config: StudyConfig, area_wkb: bytes, margin_m: float) -> str:
    """Hash what an area's outputs depend on: the study file, its input files, the area."""
    h = hashlib.sha256()
    h.update(config.path.read_bytes())
    inp = config.inputs
    files = [config.network.osm, inp.communities.path,
             inp.facilities.path if inp.facilities else None,
             inp.candidates.path if inp.candidates else None, config.area.boundary,
             config.network.dem, config.standards_catalog]
    for f in files:
        if f is not None and Path(f).is_file():
            st = Path(f).stat()
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode())
    h.update(area_wkb)
    h.update(f"{margin_m!r}".encode())

    h.update(__version__.encode())
    return h.hexdigest()


def _complete(area_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    """Return the record of an area whose output set is complete and current, else None.

    Complete: ``manifest.json`` is there (written last by the area's output set), no
    ``INCOMPLETE.txt`` (left by an interrupted or failed run), every file the manifest lists
    has its size and SHA-256, and the area's record in it carries ``fingerprint`` (same study,
    inputs, polygon, margin and version).
    """
    manifest = read_manifest(area_dir)
    if manifest is None or not manifest.get("complete") or (area_dir / INCOMPLETE_NAME).exists():
        return None
    entries = manifest.get("files", [])
    if not isinstance(entries, list) or AREA_RECORD not in {
            e.get("path") for e in entries if isinstance(e, dict)}:
        return None
    for entry in entries:
        if not isinstance(entry, dict):
            return None
        f = area_dir / str(entry.get("path", ""))
        try:
            if not f.is_file() or f.stat().st_size != entry.get("bytes"):
                return None
        except OSError:
            return None
        if _sha256(f) != entry.get("sha256"):
            return None
    try:
        record = json.loads((area_dir / AREA_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
        return None
    return record


def _area_inputs(config: StudyConfig, work_dir: Path) -> list[Path]:
    """Return the files an area's run reads (never removed when its set is replaced)."""
    found = [config.path, *sorted(p for p in work_dir.glob("*") if p.is_file())]
    found.extend(Path(f) for f in (config.network.dem, config.standards_catalog)
                 if f is not None and Path(f).is_file())
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_gpkg(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp, fixed_file_dates():
        gdf.to_file(tmp, driver="GPKG", layer=path.stem)
    return path


def _buffer_m(geom: Any, distance_m: float) -> Any:
    s = gpd.GeoSeries([geom], crs="EPSG:4326")
    metric = utm_crs(s)
    return s.to_crs(metric).buffer(distance_m).to_crs("EPSG:4326").iloc[0]


def _cut_inputs(area: Any, tables: dict[str, gpd.GeoDataFrame | None], *, reach: Any
                ) -> dict[str, gpd.GeoDataFrame | None]:
    """Select an area's communities, candidates (inside) and facilities (inside ``reach``)."""
    out: dict[str, gpd.GeoDataFrame | None] = {}
    for name, table in tables.items():
        if table is None:
            out[name] = None
            continue
        geoms = np.asarray(table.geometry.values, dtype=object)
        points = shapely.point_on_surface(geoms)
        inside = shapely.covers(reach if name == "facilities" else area, points)
        out[name] = table.loc[inside].reset_index(drop=True)
    return out


def _area_paths(work: Path) -> dict[str, Path]:
    return {"boundary": work / "boundary.gpkg", "osm": work / "network.osm.pbf",
            "communities": work / "communities.gpkg", "facilities": work / "facilities.gpkg",
            "candidates": work / "candidates.gpkg"}


def margin_name(area_id: str, margin_m: float) -> str:
    """Return the name (``name_zh``) of an area's polygon grown by the facility margin.

    Parameters
    ----------
    area_id
        The area.
    margin_m
        The facility margin in metres.

    Returns
    -------
    str
        The feature name the area's study selects in its boundary file.
    """
    return f"{area_id} 含边缘 {margin_m:g} m" if margin_m > 0 else area_id


def area_boundary(area_id: str, area: Any, *, margin_m: float) -> gpd.GeoDataFrame:
    """Return an area's boundary layer: the area grown by the margin (studied), and the area.

    The study area of an area's run is its polygon grown by the facility margin, so that the
    network reaches the facilities that serve it from outside; its communities are only those
    inside the area itself (both outlines are drawn on its map).

    Parameters
    ----------
    area_id
        The area.
    area
        Its polygon (WGS-84).
    margin_m
        The facility margin in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name_zh``, ``name_en``, ``area_id`` and the polygons, the studied one first.
    """
    if margin_m <= 0:
        return gpd.GeoDataFrame({"name_zh": [area_id], "name_en": [area_id],
                                 "area_id": [area_id]}, geometry=[area], crs="EPSG:4326")
    return gpd.GeoDataFrame(
        {"name_zh": [margin_name(area_id, margin_m), area_id],
         "name_en": [f"{area_id} with a {margin_m:g} m margin", area_id],
         "area_id": [area_id, area_id]},
        geometry=[_buffer_m(area, margin_m), area], crs="EPSG:4326")


def area_config(config: StudyConfig, *, area_id: str, work_dir: str | os.PathLike[str],
                out_dir: str | os.PathLike[str], margin_m: float) -> StudyConfig:
    """Return the single-area study a batch runs for one area.

    Its network is the area's extract, its boundary the area grown by the facility margin
    (:func:`area_boundary`), its tables the area's cut (written by :func:`run_batch` into
    ``work_dir``), and its title the study's name with the area id. ``deyang-geo run`` on the
    same settings with the whole OSM file gives the same bytes.

    Parameters
    ----------
    config
        The batch's study.
    area_id
        The area.
    work_dir
        The area's work folder (``OUT/_batch_work/<area id>``).
    out_dir
        The area's output folder.
    margin_m
        The facility margin in metres.

    Returns
    -------
    StudyConfig
        The area's study.
    """
    paths = _area_paths(Path(work_dir))
    inp = config.inputs
    inputs = replace(
        inp,
        communities=InputFile(paths["communities"], "wgs84"),
        # an area without facilities or candidates of its own has none (not a missing file)
        facilities=InputFile(paths["facilities"], "wgs84")
        if inp.facilities and paths["facilities"].is_file() else None,
        candidates=InputFile(paths["candidates"], "wgs84")
        if inp.candidates and paths["candidates"].is_file() else None)
    return replace(
        config, name=f"{config.name} · {area_id}",
        area=replace(config.area, name=area_id, boundary=paths["boundary"],
                     divisions=(margin_name(area_id, margin_m),)),
        network=replace(config.network, osm=paths["osm"]),
        inputs=inputs, output=replace(config.output, folder=Path(out_dir)))


# --------------------------------------------------------------------------------------------
# one area (runs on a Dask worker)


def _mentions(value: Any, category: str) -> bool:
    if isinstance(value, list | tuple | set | np.ndarray):
        return category in {str(v) for v in value}
    return category in re.split(r"[,;|\s]+", str(value))


def _area_rows(area_id: str, result: Any) -> list[dict[str, Any]]:
    """Return the area's merged-table rows: coverage per category, targets met, sites added."""
    cov = result.coverage
    study = cov.study_area
    study = study[study["kind"] == "all"] if "kind" in study.columns else study
    targets = None
    if result.compliance is not None:
        t = result.compliance.targets
        targets = t[t["scope"] == "all"] if "scope" in t.columns else t
    rows = []
    for category in cov.categories:
        part = study[study["category"] == category]
        row: dict[str, Any] = {"area_id": area_id, "category": category, "status": "ok",
                               "message": ""}
        row["population"] = int(part["population"].sum()) if len(part) else 0
        for b in cov.breaks_minutes:
            tag = f"{b:g}min"
            covered = float(part[f"covered_population_{tag}"].sum()) if len(part) else 0.0
            row[f"covered_population_{tag}"] = round(covered)
            row[f"covered_share_{tag}"] = (round(covered / row["population"], 4)
                                           if row["population"] else float("nan"))
        if targets is not None and "categories" in targets.columns:
            mine = targets[[_mentions(v, category) for v in targets["categories"]]]
            met = mine["met"].astype("boolean").fillna(False).astype(bool)
            row["targets_evaluated"] = len(mine)
            row["targets_met"] = int(met.sum())
        else:
            row["targets_evaluated"] = 0
            row["targets_met"] = 0
        sites = result.sites.get(category)
        row["sites_added"] = len(sites.sites) if sites is not None else 0
        row["population_added_by_sites"] = (
            round(sites.covered_population_after - sites.covered_population_before)
            if sites is not None else 0)
        rows.append(row)
    return rows


def _check_area_inputs(work_dir: Path, area_id: str) -> None:
    if not (work_dir / "communities.gpkg").is_file():
        msg = f"area {area_id}: no communities inside the area"
        raise InputError(msg)


def run_area(study: str, *, area_id: str, work_dir: str, out_dir: str, margin_m: float,
             fingerprint: str) -> AreaOutcome:
    """Run one area of a batch as an output set, its record inside it (a Dask task).

    Parameters
    ----------
    study
        The batch's study file.
    area_id
        The area.
    work_dir
        Its work folder, holding the extract and the cut tables.
    out_dir
        Its output folder.
    margin_m
        The facility margin in metres.
    fingerprint
        What its outputs depend on (written into its record).

    Returns
    -------
    AreaOutcome
        Never raises for the area's own failures: they are reported in the outcome.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            config = area_config(load_study(study), area_id=area_id, work_dir=work_dir,
                                 out_dir=out, margin_m=margin_m)
            _check_area_inputs(Path(work_dir), area_id)
            (out / _LEGACY_DONE_FILE).unlink(missing_ok=True)
            # the set `deyang-geo run` writes: INCOMPLETE.txt while it is written (it stays
            # if the area fails or is interrupted), manifest.json last when it is complete
            with output_set(out, command="run", inputs=_area_inputs(config, Path(work_dir))):
                result = pipeline.run_study(config, out_dir=out)
                rows = _area_rows(area_id, result)
                record = {"area_id": area_id, "fingerprint": fingerprint, "rows": rows}
                write_text_atomic(out / AREA_RECORD, dumps_json(record))
            status, failure, message = "ok", "", ""
        except InputError as exc:
            rows, status, failure, message = [], "failed", "input", str(exc)
        except Exception as exc:  # one area's bug must not stop the others
            rows, status, failure = [], "failed", "internal"
            message = f"{type(exc).__name__}: {exc}"
    seen = list(dict.fromkeys(str(w.message) for w in caught))
    return AreaOutcome(area_id=area_id, status=status, failure=failure, message=message,
                       seconds=time.perf_counter() - t0, rows=tuple(rows),
                       warnings=tuple(seen), worker_peak_rss_mb=_peak_rss_mb())


def _peak_rss_mb() -> float:
    """Return the peak resident memory of this process in MB (0 where it cannot be known)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


# --------------------------------------------------------------------------------------------
# the batch


def _check_study(config: StudyConfig) -> None:
    if config.network.osm is None:
        raise ConfigError(Problem("a batch needs [network] osm = an OSM file covering every "
                                  "area (place, bbox and graph sources are for one area)",
                                  file=str(config.path)))


def _read_tables(config: StudyConfig) -> dict[str, gpd.GeoDataFrame | None]:
    catalog = load_catalog(config.standards_catalog)
    inp = config.inputs
    return {
        "communities": io.read_communities(inp.communities.path,
                                           input_crs=inp.communities.input_crs),
        "facilities": io.read_facilities(inp.facilities.path,
                                         input_crs=inp.facilities.input_crs, catalog=catalog)
        if inp.facilities else None,
        "candidates": io.read_candidates(inp.candidates.path,
                                         input_crs=inp.candidates.input_crs)
        if inp.candidates else None,
    }


def _prepare(config: StudyConfig, areas: gpd.GeoDataFrame, pending: list[int], work: Path,
             *, margin_m: float) -> float:
    """Split the OSM file and cut the tables for the pending areas; return the split time."""
    if not pending:
        return 0.0
    tables = _read_tables(config)
    boxes, outs = {}, {}
    for i in pending:
        row = areas.iloc[[i]]
        area_id = str(row["area_id"].iloc[0])
        folder = work / area_id
        if folder.exists():
            shutil.rmtree(folder)
        paths = _area_paths(folder)
        boundary = area_boundary(area_id, row.geometry.iloc[0], margin_m=margin_m)
        _write_gpkg(boundary, paths["boundary"])
        cut = _cut_inputs(boundary.geometry.iloc[-1], tables,
                          reach=boundary.geometry.iloc[0])
        for name, table in cut.items():
            if table is not None and len(table):
                _write_gpkg(table, paths[name])
        boxes[area_id] = osm_read_bbox(boundary.geometry.iloc[0])
        outs[area_id] = paths["osm"]
    assert config.network.osm is not None
    facility_keys: list[str] = []
    if config.inputs.facilities_from_osm:
        # the extracts keep the features the catalog's tag mapping reads, for each area's
        # facilities_from_osm
        facility_keys = sorted(load_catalog(config.standards_catalog).osm_tag_query())
    summary = split_osm_file(config.network.osm, boxes, out_paths=outs,
                             facility_keys=facility_keys)
    return summary.seconds


def _client(*, workers: int | None, memory_per_worker_gb: float | None,
            scheduler: str | None) -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a runtime dependency
        msg = "batch runs need dask.distributed: pip install 'dask[distributed]'"
        raise ImportError(msg) from None
    if scheduler is not None:
        # distributed logs each failed attempt with a traceback: the message below says it all
        quiet = [logging.getLogger(n) for n in ("distributed", "asyncio", "tornado")]
        levels = [q.level for q in quiet]
        for q in quiet:
            q.setLevel(logging.CRITICAL)
        try:
            return Client(scheduler, timeout="10s"), None
        except OSError as exc:
            msg = f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({exc})"
            raise InputError(msg) from None
        finally:
            for q, level in zip(quiet, levels, strict=True):
                q.setLevel(level)
    n = workers or max(1, (os.cpu_count() or 1))
    memory: Any = "auto" if memory_per_worker_gb is None else int(memory_per_worker_gb * 2**30)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           memory_limit=memory, dashboard_address="127.0.0.1:0",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_batch(study: str | os.PathLike[str], *, areas: str | os.PathLike[str],
              area_id_column: str, out_dir: str | os.PathLike[str],
              workers: int | None = None, memory_per_worker_gb: float | None = None,
              scheduler: str | None = None, facility_margin_m: float | None = None,
              progress: bool = False) -> BatchResult:
    """Run a study over many areas, one Dask task per area, and merge the results.

    Parameters
    ----------
    study
        The single-area study file (its ``[network] osm`` and tables cover every area; its
        ``[area]`` section is replaced by each area's polygon). With
        ``inputs.facilities_from_osm`` each area reads its OSM facilities from its extract.
    areas
        One polygon per area (any vector format geopandas reads).
    area_id_column
        The column of ``areas`` holding the ids (also the output folder names).
    out_dir
        Output folder: ``<area id>/`` per area exactly as ``deyang-geo run`` writes it, the
        merged tables and the overview map.
    workers
        Worker processes of the local cluster; default the number of CPUs.
    memory_per_worker_gb
        Memory limit per local worker in GiB (a worker above it is restarted and its area
        reported as failed); default Dask's share of the machine.
    scheduler
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a local
        cluster; its workers must see the same files at the same paths.
    facility_margin_m
        Facilities this far outside an area still serve it (default 1000 m).
    progress
        Show Dask's progress bar over the areas.

    Returns
    -------
    BatchResult
        One outcome per area, the merged table and the files written.

    Raises
    ------
    InputError
        If the study, the areas file or the tables are wrong (before any area runs).
    """
    config = load_study(study)
    _check_study(config)
    margin = FACILITY_MARGIN_M if facility_margin_m is None else float(facility_margin_m)
    if not math.isfinite(margin) or margin < 0:
        msg = f"facility margin must be a distance >= 0 in metres, got {margin}"
        raise InputError(msg)
    area_table = read_areas(areas, id_column=area_id_column)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / WORK_FOLDER
    ids = [str(a) for a in area_table["area_id"]]
    prints = [_fingerprint(config, g.wkb, margin) for g in area_table.geometry]
    outcomes: dict[str, AreaOutcome] = {}
    pending = []
    for i, area_id in enumerate(ids):
        done = _complete(out / area_id, prints[i])
        if done is not None:
            outcomes[area_id] = AreaOutcome(area_id=area_id, status="skipped",
                                            rows=tuple(done.get("rows", ())))
        else:
            pending.append(i)
    log.info("%d areas, %d complete from an earlier run, %d to compute", len(ids),
             len(ids) - len(pending), len(pending))
    split_s = 0.0
    if pending:
        # connect first: a wrong scheduler address fails before the province is split
        client, cluster = _client(workers=workers, memory_per_worker_gb=memory_per_worker_gb,
                                  scheduler=scheduler)
        try:
            split_s = _prepare(config, area_table, pending, work, margin_m=margin)
            outcomes.update(_run_pending(client, config.path, [ids[i] for i in pending],
                                         [prints[i] for i in pending], work=work, out=out,
                                         margin_m=margin, progress=progress))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    ordered = tuple(outcomes[a] for a in ids)
    table = merged_table(ordered)
    written: dict[str, Path] = {}
    text = table.to_csv(index=False, na_rep="", lineterminator="\n")
    written["table"] = write_text_atomic(out / MERGED_TABLE, str(text), encoding="utf-8-sig")
    areas_frame = pd.DataFrame([{"area_id": a.area_id, "status": a.status,
                                 "failure": a.failure, "message": a.message,
                                 "seconds": round(a.seconds, 1),
                                 "worker_peak_rss_mb": a.worker_peak_rss_mb,
                                 "warnings": " | ".join(a.warnings)} for a in ordered])
    text = areas_frame.to_csv(index=False, na_rep="", lineterminator="\n")
    written["areas"] = write_text_atomic(out / AREAS_TABLE, str(text), encoding="utf-8-sig")

    written["map"] = batch_map(area_table, table, out / OVERVIEW_MAP, title=config.name,
                               synthetic=config.synthetic, lang=config.output.lang,
                               threshold_minutes=config.analysis.threshold_minutes)
    return BatchResult(out_dir=out, areas=ordered, table=table, written=written,
                       split_seconds=split_s)


def _run_pending(client: Any, study: Path, ids: Sequence[str], prints: Sequence[str], *,
                 work: Path, out: Path, margin_m: float, progress: bool
                 ) -> dict[str, AreaOutcome]:
    futures = {
        area_id: client.submit(run_area, str(study), area_id=area_id,
                               work_dir=str(work / area_id), out_dir=str(out / area_id),
                               margin_m=margin_m, fingerprint=fp,
                               key=f"deyang-area-{area_id}-{fp[:12]}", pure=False,
                               retries=0)
        for area_id, fp in zip(ids, prints, strict=True)}
    if progress:
        from distributed import progress as dask_progress

        dask_progress(list(futures.values()))
    results: dict[str, AreaOutcome] = {}
    for area_id, fut in futures.items():
        try:
            results[area_id] = fut.result()
        except Exception as exc:  # a worker lost (memory limit), a scheduler gone...
            results[area_id] = AreaOutcome(area_id=area_id, status="failed",
                                           failure="internal",
                                           message=f"{type(exc).__name__}: {exc}")
    return results


def merged_table(outcomes: Sequence[AreaOutcome]) -> pd.DataFrame:
    """Return one row per area and category; a failed area gets one row with its message.

    Parameters
    ----------
    outcomes
        The areas' outcomes, in order.

    Returns
    -------
    pandas.DataFrame
        ``area_id, category, status, message, population``, covered people and share per
        break, ``targets_evaluated, targets_met, sites_added, population_added_by_sites``.
    """
    rows: list[dict[str, Any]] = []
    for a in outcomes:
        if a.status == "failed":
            rows.append({"area_id": a.area_id, "category": "", "status": "failed",
                         "message": a.message})
        else:
            rows.extend({**r, "status": a.status} for r in a.rows)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["area_id", "category", "status", "message"])
    for col in ("population", "targets_evaluated", "targets_met", "sites_added",
                "population_added_by_sites"):
        if col in frame.columns:
            frame[col] = frame[col].astype("Int64")
    for col in frame.columns:
        if col.startswith("covered_population_"):
            frame[col] = frame[col].astype("Int64")
    return frame


def echo_outcomes(result: BatchResult, *, stream: Any = None) -> None:
    """Print each failed area with its message (for the command line).

    Parameters
    ----------
    result
        A batch result.
    stream
        Where to print; default standard error.
    """
    out = stream or sys.stderr
    for a in result.failed:
        print(f"area {a.area_id} failed ({a.failure}): {a.message}", file=out)


__all__ = ["AREA_RECORD", "FACILITY_MARGIN_M", "AreaOutcome", "BatchResult", "area_boundary",
           "area_config", "margin_name", "merged_table", "read_areas", "run_area", "run_batch"]
