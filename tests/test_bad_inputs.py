"""The permanent bad-input suite: every command and the study file, as a hostile user uses them.

Each case copies the hand-drawn fixtures (``fixtures/cli_access_*``) into a fresh folder, adds
or spoils one file or option, runs the command line in-process and asserts:

- the exit code (2: the user's input or option; never 1, "internal error");
- a message on standard error naming the file, row, column or option at fault;
- no traceback;
- nothing written: every file in the folder is byte-identical afterwards (the inputs are never
  modified) and no file or folder was added (no partial output).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deyang_geo.cli.app import main

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NETWORK = (FIXTURES / "cli_access_streets.osm").read_bytes()
FACILITIES = (FIXTURES / "cli_access_facilities.csv").read_text(encoding="utf-8")
COMMUNITIES = json.loads((FIXTURES / "cli_access_communities.geojson").read_text(
    encoding="utf-8"))

FAC_HEADER = "id,name,category,lon,lat\n"
COM_HEADER = "id,name,population,households,lon,lat\n"
COM_ROW = "C1,甲社区,1000,400,104.3925,31.13018\n"

ACCESS = ("access --network {d}/net.osm --facilities {d}/fac.csv --demand {d}/com.geojson "
          "--out {d}/out")
ACCESS_CSV = ("access --network {d}/net.osm --facilities {d}/fac.csv --demand {d}/com.csv "
              "--out {d}/out")
ISO = "isochrones --network {d}/net.osm --facilities {d}/fac.csv --out {d}/iso.geojson"
COMPLIANCE = ("compliance --network {d}/net.osm --facilities {d}/fac.csv --demand "
              "{d}/com.geojson --out {d}/out")
SITES = ("suggest-sites --network {d}/net.osm --facilities {d}/fac.csv --demand "
         "{d}/com.geojson --category health_room --out {d}/out")
NETWORK_CMD = "network --osm {d}/net.osm --out {d}/g.graphml"
STUDY = """
[study]
name = "bad-input study"
[network]
osm = "net.osm"
[inputs]
communities = "com.geojson"
facilities = "fac.csv"
[analysis]
categories = ["health_room"]
[output]
folder = "out"
outputs = ["access", "coverage"]
"""


def _community(features: list[dict[str, object]] | None = None, **props: object
               ) -> str:
    """The fixture's communities with the first one's properties or geometry changed."""
    data = json.loads(json.dumps(COMMUNITIES))
    first = data["features"][0]
    geometry = props.pop("geometry", None)
    first["properties"].update(props)
    if geometry is not None:
        first["geometry"] = geometry
    if features is not None:
        data["features"].extend(features)
    return json.dumps(data, ensure_ascii=False)


def _osm(ways: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
            '<node id="1" lat="31.13" lon="104.39"/><node id="2" lat="31.13" lon="104.40"/>\n'
            f"{ways}\n</osm>\n")


@dataclass(frozen=True)
class Case:
    """One bad input: the files to write (over the fixtures), the command, what to expect."""

    name: str
    command: str
    expect: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    code: int = 2
    setup: Callable[[Path], None] | None = None


def _xlsx_formula(folder: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "name", "category", "lon", "lat", "floor_area_m2"])
    sheet.append(["H1", "卫生室", "health_room", 104.39, 31.13, "=20*5"])
    book.save(folder / "fac.xlsx")


def _png_not_image(folder: Path) -> None:
    res = folder / "res"
    res.mkdir()
    (res / "coverage_study_area.csv").write_text("category,population\nhealth_room,10\n",
                                                 encoding="utf-8")
    (res / "chart.png").write_text("not an image", encoding="utf-8")


def _results(name: str, text: str | bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        res = folder / "res"
        res.mkdir(exist_ok=True)
        (res / "coverage_study_area.csv").write_text("category,population\nhealth_room,10\n",
                                                     encoding="utf-8")
        if isinstance(text, bytes):
            (res / name).write_bytes(text)
        else:
            (res / name).write_text(text, encoding="utf-8")
    return setup


def _empty_results(folder: Path) -> None:
    (folder / "res").mkdir()


def _proc_out(_folder: Path) -> None:
    return None


CASES: list[Case] = [
    # --- facilities table -------------------------------------------------------------------
    Case("fac-empty-file", ACCESS, ("fac.csv", "empty"), {"fac.csv": ""}),
    Case("fac-header-only", ACCESS, ("fac.csv",), {"fac.csv": FAC_HEADER}),
    Case("fac-no-category-column", ACCESS, ("fac.csv", "category"),
         {"fac.csv": "id,name,lon,lat\nH1,a,104.39,31.13\n"}),
    Case("fac-missing-category", ACCESS, ("fac.csv", "row 1", "category"),
         {"fac.csv": FAC_HEADER + "H1,a,,104.39,31.13\n"}),
    Case("fac-duplicate-ids", ACCESS, ("fac.csv", "row 2", "'id'"),
         {"fac.csv": FAC_HEADER + "H1,a,health_room,104.39,31.13\n"
          "H1,b,health_room,104.395,31.13\n"}),
    Case("fac-lon-not-a-number", ACCESS, ("fac.csv", "row 1", "lon"),
         {"fac.csv": FAC_HEADER + "H1,a,health_room,east,31.13\n"}),
    Case("fac-lat-out-of-range", ACCESS, ("fac.csv", "row 1"),
         {"fac.csv": FAC_HEADER + "H1,a,health_room,104.39,131.13\n"}),
    Case("fac-projected-as-wgs84", ACCESS, ("fac.csv", "row 1"),
         {"fac.csv": FAC_HEADER + "H1,a,health_room,500123.5,3445123.2\n"}),
    Case("fac-missing-coordinates", ACCESS, ("fac.csv", "row 1"),
         {"fac.csv": FAC_HEADER + "H1,a,health_room,,\n"}),
    Case("fac-two-category-headers", ACCESS, ("fac.csv", "category", "category.1"),
         {"fac.csv": "id,name,category,category,lon,lat\n"
          "H1,a,health_room,library_room,104.39,31.13\n"}),
    Case("fac-lonlat-and-xy-differ", ACCESS, ("fac.csv", "'lon'", "'x'"),
         {"fac.csv": "id,name,category,lon,lat,x,y\n"
          "H1,a,health_room,104.39,31.13,104.41,31.15\n"}),
    Case("fac-floor-area-implausible", ACCESS, ("fac.csv", "row 1", "floor_area_m2"),
         {"fac.csv": "id,name,category,lon,lat,floor_area_m2\n"
          "H1,a,health_room,104.39,31.13,1e12\n"}),
    Case("fac-floor-area-negative", ACCESS, ("fac.csv", "row 1", "floor_area_m2"),
         {"fac.csv": "id,name,category,lon,lat,floor_area_m2\n"
          "H1,a,health_room,104.39,31.13,-50\n"}),
    Case("fac-binary-garbage", ACCESS, ("fac.csv",),
         {"fac.csv": bytes(range(256)) * 4}),
    Case("fac-missing-file", ACCESS.replace("fac.csv", "nope.csv"), ("nope.csv", "not found")),
    Case("fac-xlsx-formula-without-value",
         ACCESS.replace("fac.csv", "fac.xlsx"), ("fac.xlsx", "F2", "formula"),
         setup=_xlsx_formula),
    Case("fac-xlsx-not-a-workbook", ACCESS.replace("fac.csv", "fac.xlsx"),
         ("fac.xlsx", "Excel"), {"fac.xlsx": "id,name\n"}),
    # --- communities ------------------------------------------------------------------------
    Case("com-population-negative", ACCESS, ("com.geojson", "row 1", "population"),
         {"com.geojson": _community(population=-5)}),
    Case("com-population-text", ACCESS, ("com.geojson", "row 1", "population"),
         {"com.geojson": _community(population="many")}),
    Case("com-population-missing", ACCESS, ("com.geojson", "row 1", "population"),
         {"com.geojson": _community(population=None)}),
    Case("com-population-1e12", ACCESS,
         ("com.geojson", "row 1", "population", "implausibly large"),
         {"com.geojson": _community(population=1e12)}),
    Case("com-population-1e20", ACCESS, ("com.geojson", "row 1", "population", "1e+20"),
         {"com.geojson": _community(population=1e20)}),
    Case("com-population-huge-integer", ACCESS_CSV,
         ("com.csv", "row 1", "population", "100000000000000000000"),
         {"com.csv": COM_HEADER.replace("\n", ",extra\n")
          + "C1,a,100000000000000000000,400,104.39,31.13,100000000000000000000\n"}),
    Case("com-households-exceed-population", ACCESS, ("com.geojson", "row 1", "households"),
         {"com.geojson": _community(population=100, households=400)}),
    Case("com-duplicate-ids", ACCESS, ("com.geojson", "row 2", "'id'"),
         {"com.geojson": _community(id="C2")}),
    Case("com-no-population-column", ACCESS_CSV, ("com.csv", "population"),
         {"com.csv": "id,name,lon,lat\nC1,a,104.39,31.13\n"}),
    Case("com-two-population-columns", ACCESS_CSV, ("com.csv", "'population'", "'人口'"),
         {"com.csv": "id,name,population,人口,lon,lat\nC1,a,1000,1200,104.39,31.13\n"}),
    Case("com-header-only", ACCESS_CSV, ("com.csv",), {"com.csv": COM_HEADER}),
    Case("com-empty-file", ACCESS_CSV, ("com.csv", "empty"), {"com.csv": "\n\n"}),
    Case("com-null-geometry", ACCESS, ("com.geojson", "row 1", "geometry"),
         {"com.geojson": _community(geometry={"type": "Point", "coordinates": []})}),
    Case("com-line-geometry", ACCESS, ("com.geojson", "row 1"),
         {"com.geojson": _community(geometry={
             "type": "LineString", "coordinates": [[104.39, 31.13], [104.40, 31.13]]})}),
    Case("com-province-sized-polygon", ACCESS, ("com.geojson", "row 1", "km2"),
         {"com.geojson": _community(geometry={
             "type": "Polygon", "coordinates": [[[103.0, 28.0], [108.0, 28.0], [108.0, 34.0],
                                                 [103.0, 34.0], [103.0, 28.0]]]})}),
    Case("com-swapped-lonlat-far-away", ACCESS_CSV, ("com.csv", "row 1"),
         {"com.csv": COM_HEADER + "C1,a,1000,400,31.13018,204.3925\n"}),
    Case("com-not-geojson", ACCESS, ("com.geojson",), {"com.geojson": "{not json"}),
    # --- the road network -------------------------------------------------------------------
    Case("net-missing-file", ACCESS.replace("net.osm", "nope.osm"), ("nope.osm",)),
    Case("net-truncated-gz", ACCESS.replace("net.osm", "net.osm.gz"), ("net.osm.gz",),
         {"net.osm.gz": gzip.compress(NETWORK)[:200]}),
    Case("net-not-osm", ACCESS, ("net.osm",), {"net.osm": "hello, this is not XML\n"}),
    Case("net-no-walkable-ways", ACCESS, ("net.osm", "walk"),
         {"net.osm": _osm('<way id="9"><nd ref="1"/><nd ref="2"/>'
                          '<tag k="highway" v="motorway"/></way>')}),
    Case("net-no-ways-at-all", ACCESS, ("net.osm",), {"net.osm": _osm("")}),
    # --- options ----------------------------------------------------------------------------
    Case("opt-walk-speed-1e9", ACCESS + " --walk-speed-kmh 1e9", ("--walk-speed-kmh", "1e+09")),
    Case("opt-walk-speed-zero", ACCESS + " --walk-speed-kmh 0", ("--walk-speed-kmh",)),
    Case("opt-walk-speed-text", ACCESS + " --walk-speed-kmh fast", ("--walk-speed-kmh",)),
    Case("opt-minutes-zero", ACCESS + " --minutes 0", ("--minutes",)),
    Case("opt-minutes-negative", ACCESS + " --minutes -5", ("--minutes",)),
    Case("opt-input-crs-unknown", ACCESS + " --input-crs marscoords", ("marscoords",)),
    Case("opt-unknown-option", ACCESS + " --frobnicate", ("--frobnicate",)),
    Case("opt-missing-network", "access --facilities {d}/fac.csv --demand {d}/com.geojson "
         "--out {d}/out", ("--network",)),
    Case("opt-unknown-mode", ACCESS + " --mode teleport", ("--mode",)),
    # --- outputs that would destroy an input ------------------------------------------------
    Case("out-is-an-existing-file", ACCESS.replace("{d}/out", "{d}/fac.csv"),
         ("fac.csv",)),
    Case("out-cannot-be-created", ACCESS.replace("{d}/out", "/proc/deyang-geo-out"),
         ("/proc/deyang-geo-out",)),
    Case("out-overwrites-access-inputs",
         "access --network {d}/net.osm --facilities {d}/access.csv --demand {d}/coverage.csv "
         "--out {d}", ("access.csv", "coverage.csv", "overwritten"),
         {"access.csv": FACILITIES, "coverage.csv": COM_HEADER + COM_ROW}),
    Case("out-overwrites-isochrone-input",
         "isochrones --network {d}/net.osm --facilities {d}/iso.geojson --out {d}/iso.geojson",
         ("iso.geojson", "overwrite"),
         {"iso.geojson": json.dumps({"type": "FeatureCollection", "features": [
             {"type": "Feature", "properties": {"id": "H1", "category": "health_room"},
              "geometry": {"type": "Point", "coordinates": [104.39, 31.13]}}]})}),
    Case("out-overwrites-candidates", SITES.replace("{d}/out", "{d}") + " --new-sites 1 "
         "--candidates {d}/sites.csv", ("sites.csv", "overwritten"),
         {"sites.csv": "id,lon,lat\nS1,104.395,31.13\n"}),
    Case("out-overwrites-network-boundary",
         "network --osm {d}/net.osm --boundary {d}/b.gpkg --out {d}/b.gpkg",
         ("b.gpkg", "overwrite"), {"b.gpkg": b"not really a geopackage"}),
    # --- isochrones -------------------------------------------------------------------------
    Case("iso-out-suffix", ISO.replace("iso.geojson", "iso.shp"), ("--out", "iso.shp")),
    Case("iso-minutes-text", ISO + " --minutes 5,x", ("--minutes",)),
    Case("iso-minutes-zero", ISO + " --minutes 0", ("--minutes",)),
    Case("iso-walkoff-negative", ISO + " --walkoff-m -1", ("--walkoff-m",)),
    # --- compliance -------------------------------------------------------------------------
    Case("cmp-threshold-malformed", COMPLIANCE + " --threshold health_room", ("--threshold",)),
    Case("cmp-threshold-negative", COMPLIANCE + " --threshold T7=-1", ("--threshold",)),
    Case("cmp-standards-missing", COMPLIANCE + " --standards {d}/nope.toml", ("nope.toml",)),
    Case("cmp-standards-not-toml", COMPLIANCE + " --standards {d}/std.toml", ("std.toml",),
         {"std.toml": "[categories\nthis is = not toml"}),
    Case("cmp-osm-facilities-without-osm",
         COMPLIANCE.replace("{d}/net.osm", "{d}/fac.csv") + " --osm-facilities",
         ("--osm-facilities",)),
    Case("cmp-merge-distance-negative", COMPLIANCE + " --merge-distance-m -1",
         ("--merge-distance-m",)),
    # --- suggest-sites ----------------------------------------------------------------------
    Case("sites-budget-negative", SITES + " --budget -10", ("--budget",)),
    Case("sites-new-sites-negative", SITES + " --new-sites -1", ("--new-sites",)),
    Case("sites-pmedian-without-n", SITES + " --model pmedian", ("--new-sites",)),
    Case("sites-target-share-above-1", SITES + " --model lscp --target-share 2",
         ("--target-share",)),
    Case("sites-time-limit-zero", SITES + " --new-sites 1 --time-limit 0", ("--time-limit",)),
    Case("sites-unknown-category", SITES.replace("health_room", "spaceport") + " --new-sites 1",
         ("spaceport",)),
    Case("sites-zero-candidates", SITES + " --new-sites 1 --candidates {d}/cand.csv",
         ("cand.csv",), {"cand.csv": "id,lon,lat\n"}),
    Case("sites-candidates-bad-coordinates", SITES + " --new-sites 1 --candidates "
         "{d}/cand.csv", ("cand.csv", "row 1"), {"cand.csv": "id,lon,lat\nS1,x,y\n"}),
    Case("sites-impossible-lscp-target", SITES + " --model lscp --target-share 1 "
         "--candidates {d}/cand.csv", ("target",),
         {"cand.csv": "id,lon,lat\nS1,104.3925,31.1302\n"}),
    # --- network ----------------------------------------------------------------------------
    Case("network-bbox-three-numbers", "network --bbox 1,2,3 --out {d}/g.graphml",
         ("--bbox",)),
    Case("network-no-source", "network --out {d}/g.graphml", ("--osm",)),
    Case("network-out-suffix", NETWORK_CMD.replace("g.graphml", "g.txt"), ("--out", "g.txt")),
    Case("network-truncated-gz", NETWORK_CMD.replace("net.osm", "net.osm.gz"), ("net.osm.gz",),
         {"net.osm.gz": gzip.compress(NETWORK)[:200]}),
    Case("network-walk-speed-implausible", NETWORK_CMD + " --walk-speed-kmh 300",
         ("--walk-speed-kmh",)),
    # --- report -----------------------------------------------------------------------------
    Case("report-summary-not-json", "report {d}/res --out {d}/rep --no-figures",
         ("summary.json", "JSON"), setup=_results("summary.json", "{this is not json")),
    Case("report-png-not-an-image", "report {d}/res --out {d}/rep --no-figures",
         ("chart.png", "PNG"), setup=_png_not_image),
    Case("report-layer-is-csv", "report {d}/res --out {d}/rep --no-figures --layers "
         "{d}/fac.csv", ("fac.csv", "--layers"), setup=_results("x.txt", "")),
    Case("report-missing-folder", "report {d}/nope --out {d}/rep", ("nope",)),
    Case("report-empty-folder", "report {d}/res --out {d}/rep", ("res", "no result files"),
         setup=_empty_results),
    Case("report-incomplete-set", "report {d}/res --out {d}/rep --no-figures",
         ("res", "incomplete"), setup=_results("INCOMPLETE.txt", "interrupted")),
    Case("report-table-not-text", "report {d}/res --out {d}/rep --no-figures",
         ("coverage.csv",), setup=_results("coverage.csv", b"id,x\n\xff\xfe\xfa,1\n")),
    # --- the study file ---------------------------------------------------------------------
    Case("study-unknown-key", "run {d}/study.toml --out {d}/out", ("study.toml", "colour"),
         {"study.toml": STUDY + "colour = 'red'\n"}),
    Case("study-empty-categories", "run {d}/study.toml --out {d}/out",
         ("study.toml", "categories"),
         {"study.toml": STUDY.replace('categories = ["health_room"]', "categories = []")}),
    Case("study-walk-speed-implausible", "run {d}/study.toml --out {d}/out",
         ("study.toml", "walk"),
         {"study.toml": STUDY.replace("[inputs]", "[network.speeds_kmh]\nwalk = 150\n[inputs]")}),
    Case("study-toml-syntax", "run {d}/study.toml --out {d}/out", ("study.toml",),
         {"study.toml": "[study\nname = 1"}),
    Case("study-communities-missing", "run {d}/study.toml --out {d}/out",
         ("study.toml", "nope.geojson"),
         {"study.toml": STUDY.replace("com.geojson", "nope.geojson")}),
    Case("study-file-missing", "run {d}/nope.toml", ("nope.toml",)),
    Case("study-empty-file", "run {d}/study.toml --out {d}/out", ("study.toml",),
         {"study.toml": ""}),
    Case("study-two-network-sources", "run {d}/study.toml --out {d}/out",
         ("study.toml", "network"),
         {"study.toml": STUDY.replace('osm = "net.osm"', 'osm = "net.osm"\nplace = "德阳"')}),
    Case("study-forced-candidate-missing", "run {d}/study.toml --out {d}/out",
         ("study.toml", "[siting.health_room]", "forced", "NOPE"),
         {"study.toml": STUDY.replace("[output]", '[siting.health_room]\nmodel = "mclp"\n'
                                      'new_sites = 1\ncandidates = "nodes"\n'
                                      'forced = ["NOPE"]\n[output]')
          .replace('"coverage"]', '"coverage", "sites"]')}),
]


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)
    commands = {c.command.split()[0] for c in CASES}
    assert commands == {"access", "isochrones", "compliance", "suggest-sites", "network",
                        "report", "run"}


# GDAL's notes on odd GeoJSON values are warnings that pytest turns into errors; on the
# command line they are not shown and the reader's own located message is what the user sees
@pytest.mark.filterwarnings("ignore::RuntimeWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "net.osm").write_bytes(NETWORK)
    (folder / "fac.csv").write_text(FACILITIES, encoding="utf-8")
    (folder / "com.geojson").write_text(json.dumps(COMMUNITIES, ensure_ascii=False),
                                        encoding="utf-8")
    for name, content in case.files.items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content, encoding="utf-8")
    if case.setup is not None:
        case.setup(folder)
    before = _snapshot(folder)

    code = main(case.command.format(d=folder).split())
    captured = capsys.readouterr()

    assert code == case.code, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert "internal error" not in captured.err
    message = captured.err.replace(str(folder) + "/", "")
    for fragment in case.expect:
        assert fragment in message, (fragment, captured.err)
    # inputs byte-identical, nothing added: no partial output
    assert _snapshot(folder) == before
