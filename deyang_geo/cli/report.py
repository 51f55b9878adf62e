"""The ``report`` command: the meeting report built from the folders other commands wrote."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from deyang_geo.cli.common import add_lang_option, add_out_option, echo, log

NAME = "report"
HELP = ("meeting report (HTML with figures, Excel workbook, CSVs, GeoPackage) from the result "
        "folders of access, compliance and suggest-sites")

#: Result files read when present, by the name the report gives them.
COVERAGE_FILES = {
    "coverage_study_area": "coverage_study_area.csv",
    "coverage_divisions": "coverage_divisions.csv",
    "coverage_townships": "coverage_townships.csv",
    "coverage": "coverage.csv",
    "outside_reach": "outside_reach.csv",
}
COMPLIANCE_FILES = {
    "compliance_targets": "compliance_city.csv",
    "compliance_divisions": "compliance_divisions.csv",
    "compliance_townships": "compliance_townships.csv",
    "compliance_undersized": "compliance_undersized.csv",
}
PARAMETER_FILES = ("coverage_parameters.csv", "compliance_parameters.csv")
_LAYER_SUFFIXES = (".geojson", ".gpkg")
_LAYER_ROLES = ("divisions", "communities", "facilities", "sites", "isochrones", "context",
                "network", "edges", "candidates")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``report``."""
    parser.add_argument(
        "results", nargs="+", type=Path, metavar="RESULTS",
        help="result folders written by access, compliance, suggest-sites, isochrones, run or "
        "demo (their sub-folders two levels deep are read too)",
    )
    add_out_option(parser)
    parser.add_argument("--title", default="15分钟服务圈 15-minute service circle",
                        help="report title: study area and scenario")
    add_lang_option(parser)
    status = parser.add_mutually_exclusive_group()
    status.add_argument("--synthetic", dest="synthetic", action="store_true", default=None,
                        help="mark the report as built on synthetic data")
    status.add_argument("--real", dest="synthetic", action="store_false",
                        help="mark the report as built on real data")
    parser.add_argument("--layers", nargs="*", type=Path, default=[], metavar="FILE",
                        help="further layers (GeoJSON, GeoPackage) such as the study's "
                        "divisions.geojson, communities.geojson and facilities.geojson; a "
                        "file's name says its role")
    parser.add_argument("--no-figures", action="store_true",
                        help="do not draw the printable figures (faster)")
    parser.add_argument("--pdf", action="store_true",
                        help="also print the report as DIR/report.pdf (A4) with a headless "
                        "Chromium, Chrome or Edge")
    parser.epilog = (
        "reads, when present: coverage.csv, coverage_study_area.csv, coverage_divisions.csv, "
        "coverage_townships.csv, outside_reach.csv, coverage_parameters.csv (access); "
        "compliance_city.csv, compliance_divisions.csv, compliance_townships.csv, "
        "compliance_undersized.csv, compliance_parameters.csv (compliance); sites.geojson or "
        "sites.csv and summary.json (suggest-sites); access.csv; every .geojson/.gpkg as a "
        "layer; *.png figures; map.html is linked. Data status (real/synthetic) comes from the "
        "layers' 'synthetic' column unless --synthetic/--real is given. Writes "
        "DIR/report.html, DIR/report_tables.xlsx, one CSV per table (UTF-8 with BOM) in "
        "DIR/report_csv/, DIR/report_layers.gpkg, the figures DIR/map.png, DIR/map.pdf, "
        "DIR/coverage_chart.png and, with --pdf, DIR/report.pdf."
    )


def _folders(results: list[Path]) -> list[Path]:
    from deyang_geo.core.errors import InputError, Problem

    missing = [Problem("result folder not found", file=str(p)) for p in results
               if not p.is_dir()]
    if missing:
        raise InputError(missing)
    folders: list[Path] = []
    for root in results:
        level = [root]
        for _ in range(3):  # the folder and two levels below (sites/<category>/)
            folders.extend(level)
            level = sorted(p for f in level for p in f.iterdir() if p.is_dir()
                           and not p.name.startswith((".", "report_")))
    return folders


def _find(folders: list[Path], name: str) -> list[Path]:
    return [f / name for f in folders if (f / name).is_file()]


def _read_csv(path: Path) -> Any:
    import pandas as pd

    from deyang_geo.core.errors import InputError, Problem
    from deyang_geo.io.tables_zh import read_table

    try:
        # result folders in any language (Chinese or bilingual headers) read back to English
        return read_table(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = f"cannot read this result table: {exc}"
        raise InputError(Problem(msg, file=str(path))) from None


def _concat(paths: list[Path], *, folder_column: bool) -> Any:
    import pandas as pd

    frames = []
    for path in paths:
        frame = _read_csv(path)
        if folder_column and len(paths) > 1:
            frame.insert(0, "result", path.parent.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def _layers(folders: list[Path], extra: list[Path]) -> dict[str, Any]:
    import geopandas as gpd
    import pyogrio

    from deyang_geo.core.errors import InputError, Problem

    files = [p for f in folders for p in sorted(f.iterdir())
             if p.suffix.lower() in _LAYER_SUFFIXES
             and not p.name.startswith(("report_", "."))]
    problems = [Problem("layer file not found", file=str(p)) for p in extra if not p.is_file()]
    if problems:
        raise InputError(problems)
    layers: dict[str, Any] = {}
    for path in [*extra, *files]:
        try:
            names = ([str(r[0]) for r in pyogrio.list_layers(path)]
                     if path.suffix.lower() == ".gpkg" else [None])
        except Exception as exc:  # any reader failure is a bad file for the user
            msg = f"cannot read this GeoPackage: {exc}"
            raise InputError(Problem(msg, file=str(path))) from None
        for layer in names:
            key = path.stem if layer is None or len(names) == 1 else f"{path.stem}_{layer}"
            if key in layers:
                key = f"{path.parent.name}_{key}"
            try:
                layers[key] = gpd.read_file(path, layer=layer)
            except Exception as exc:  # any reader failure is a bad file for the user
                msg = f"cannot read this layer: {exc}"
                raise InputError(Problem(msg, file=str(path))) from None
    return layers


def _role(layers: dict[str, Any], role: str) -> Any:
    import pandas as pd

    matches = [g for k, g in layers.items() if role in k.lower()]
    if not matches:
        return None
    if len(matches) == 1:
        return matches[0]
    import geopandas as gpd

    crs = matches[0].crs
    return gpd.GeoDataFrame(pd.concat([m.to_crs(crs) if m.crs is not None and crs is not None
                                       else m for m in matches], ignore_index=True),
                            geometry="geometry", crs=crs)


def _status(layer: Any) -> str:
    if layer is None or "synthetic" not in layer.columns:
        return "unknown"
    values = layer["synthetic"].astype(str).str.lower().isin(["true", "1", "yes"])
    if values.all():
        return "synthetic"
    return "mixed" if values.any() else "real"


def _access_summary(path: Path) -> Any:
    import numpy as np
    import pandas as pd

    access = _read_csv(path)
    minutes = pd.to_numeric(access["minutes"], errors="coerce")
    grouped = access.assign(minutes=minutes).groupby("category", sort=True)["minutes"]
    return pd.DataFrame({
        "category": list(grouped.groups),
        "units": grouped.size().to_numpy(),
        "unreachable_units": grouped.apply(lambda s: int(s.isna().sum())).to_numpy(),
        "median_minutes": grouped.median().round(2).to_numpy(),
        "p90_minutes": grouped.quantile(0.9).round(2).to_numpy(),
        "max_minutes": grouped.max().round(2).to_numpy(),
    }).replace({np.nan: None})


def _inputs(folders: list[Path], layers: list[Path], out: Path) -> list[Path]:
    """Return the files the report reads, refusing incomplete sets and files it cannot read."""
    from deyang_geo.core.errors import InputError, Problem
    from deyang_geo.io.output_set import check_complete, is_temporary

    for folder in folders:
        check_complete(folder)
    problems = [Problem("--layers takes GeoJSON (.geojson) or GeoPackage (.gpkg) files",
                        file=str(p))
                for p in layers if p.suffix.lower() not in _LAYER_SUFFIXES]
    if problems:
        raise InputError(problems)
    names = {*COVERAGE_FILES.values(), *COMPLIANCE_FILES.values(), *PARAMETER_FILES,
             "summary.json", "sites.csv", "access.csv"}
    files = list(layers)
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if not path.is_file() or is_temporary(path):
                continue
            suffix = path.suffix.lower()
            if (path.name in names or (suffix in _LAYER_SUFFIXES
                                       and not path.name.startswith("report_"))
                    or (suffix == ".png" and path.resolve().parent != out.resolve())):
                files.append(path)
    for path in files:
        if path.suffix.lower() == ".png" and path.is_file():
            with path.open("rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    problems.append(Problem("not a PNG image; remove it from the result "
                                            "folder", file=str(path)))
        elif path.name == "summary.json":
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(Problem(f"not valid JSON: {exc}", file=str(path)))
    if problems:
        raise InputError(problems)
    return files


def run(args: argparse.Namespace) -> int:
    """Run ``report`` and return the exit code."""
    from deyang_geo.cli.common import protected_outputs

    folders = _folders(args.results)
    inputs = _inputs(folders, list(args.layers), Path(args.out))
    with protected_outputs(command=NAME, out=Path(args.out), inputs=inputs):
        return _build(args, folders)


def _build(args: argparse.Namespace, folders: list[Path]) -> int:
    """Build the report from the result folders into ``args.out``."""
    from deyang_geo.outputs.figures import coverage_chart, save_figure, study_figure
    from deyang_geo.outputs.report import DataSource, build_report, write_pdf

    out: Path = args.out
    coverage = {k: _concat(_find(folders, f), folder_column=True)
                for k, f in COVERAGE_FILES.items() if _find(folders, f)}
    compliance = {k: _concat(_find(folders, f), folder_column=True)
                  for k, f in COMPLIANCE_FILES.items() if _find(folders, f)}
    layers = _layers(folders, list(args.layers))
    parameters: dict[str, Any] = {}
    for name in PARAMETER_FILES:
        for path in _find(folders, name):
            table = _read_csv(path)
            if {"parameter", "value"} <= set(table.columns):
                parameters.update(zip(table["parameter"].astype(str), table["value"],
                                      strict=True))
    summaries = []
    for path in _find(folders, "summary.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            summaries.append({"result": path.parent.name, **data})
            for key, value in (data.get("parameters") or {}).items():
                parameters[f"sites.{path.parent.name}.{key}"] = value
    sites = _role(layers, "sites")
    if sites is None and _find(folders, "sites.csv"):
        sites = _concat(_find(folders, "sites.csv"), folder_column=True)
    tables = {}
    access_files = _find(folders, "access.csv")
    if access_files:
        tables["access_summary"] = _access_summary(access_files[0])

    roles = {r: _role(layers, r) for r in _LAYER_ROLES}
    derived = ("sites", "isochrones", "outside", "coverage")
    sources = [DataSource(key, "result" if _status(layer) == "unknown"
                          and any(d in key for d in derived) else _status(layer),
                          origin=f"{len(layer)} features") for key, layer in layers.items()]
    synthetic = args.synthetic
    if synthetic is None:
        synthetic = any(s.status in ("synthetic", "mixed") for s in sources)
    if not (coverage or compliance or layers or summaries or tables):
        from deyang_geo.core.errors import InputError

        msg = (f"no result files found in {', '.join(str(p) for p in args.results)}: run access, "
               "compliance or suggest-sites first (see --help for the files read)")
        raise InputError(msg)

    figures: dict[str, Any] = {}
    written_figures: list[Path] = []
    if not args.no_figures:
        study_area = coverage.get("coverage_study_area")
        if study_area is not None and ({"covered_share", "covered_share_15min"}
                                       & set(study_area.columns)):
            fig = coverage_chart(study_area, title=args.title, lang=args.lang)
            written_figures.append(save_figure(fig, out / "coverage_chart.png"))
            figures["coverage_chart"] = fig
        if any(roles[r] is not None for r in ("divisions", "communities", "facilities")):
            fig = study_figure(
                title=args.title, divisions=roles["divisions"], communities=roles["communities"],
                facilities=roles["facilities"], isochrones=roles["isochrones"],
                coverage=coverage.get("coverage"), sites=sites if hasattr(sites, "geometry")
                else None, context=roles["context"], synthetic=synthetic, lang=args.lang)
            written_figures.extend(save_figure(fig, out / f"map.{fmt}") for fmt in ("png", "pdf"))
            figures["map"] = fig
    links = {}
    for path in _find(folders, "map.html"):
        links[f"map ({path.parent.name})"] = os.path.relpath(path, out)
    for path in folders:
        for png in sorted(path.glob("*.png")):
            if png.resolve().parent != out.resolve() and not png.name.startswith("."):
                figures[png.stem] = png
    log.debug("report: %d coverage, %d compliance tables, %d layers", len(coverage),
              len(compliance), len(layers))
    paths = build_report(
        out, title=args.title, parameters=parameters, sources=sources, coverage=coverage,
        compliance=compliance, sites=sites,
        site_summary=summaries or None, tables=tables, layers=layers,
        figures={str(k): v for k, v in figures.items()}, synthetic=synthetic, lang=args.lang,
        links=links,
    )
    if args.pdf:
        written_figures.append(write_pdf(paths.html))
    workbook = paths.workbook.name if paths.workbook else "-"
    gpkg = paths.geopackage.name if paths.geopackage else "-"
    echo(f"wrote {paths.html} with {len(paths.csv)} tables (workbook {workbook}, GeoPackage "
         f"{gpkg}, {len(written_figures)} figure/PDF files)")
    return 0
