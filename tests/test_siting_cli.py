"""The suggest-sites command end to end on a generated street grid, and candidates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deyang_geo.io.tables_zh import read_table

LON0, LAT0 = 104.39, 31.12
STEP_LON, STEP_LAT = 0.0021, 0.0018  # about 200 m


def write_grid_osm(path: Path, size: int = 8) -> None:
    nodes, ways = [], []
    nid = lambda i, j: 1 + i * size + j  # noqa: E731
    nodes.extend(f'  <node id="{nid(i, j)}" version="1" lat="{LAT0 + i * STEP_LAT:.7f}" '
                 f'lon="{LON0 + j * STEP_LON:.7f}"/>' for i in range(size) for j in range(size))
    wid = 1000
    for i in range(size):
        refs = "".join(f'<nd ref="{nid(i, j)}"/>' for j in range(size))
        ways.append(f'  <way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/>'
                    "</way>")
        wid += 1
    for j in range(size):
        refs = "".join(f'<nd ref="{nid(i, j)}"/>' for i in range(size))
        ways.append(f'  <way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/>'
                    "</way>")
        wid += 1
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="t">\n'
                    + "\n".join(nodes + ways) + "\n</osm>\n", encoding="utf-8")


def write_inputs(tmp: Path) -> dict[str, Path]:
    write_grid_osm(tmp / "grid.osm")
    feats = []
    rng = np.random.default_rng(0)
    for k in range(12):
        i, j = divmod(k, 4)
        lon = LON0 + (0.5 + 2 * j) * STEP_LON
        lat = LAT0 + (0.3 + 2 * i) * STEP_LAT
        feats.append({"type": "Feature", "properties": {
            "id": f"C{k}", "name": f"社区{k}", "kind": "urban",
            "population": int(rng.integers(500, 3000)), "households": 300,
            "township": "旌阳街道", "division": "旌阳区"},
            "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    (tmp / "communities.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False),
        encoding="utf-8")
    (tmp / "facilities.csv").write_text(
        "id,name,category,lon,lat\n"
        f"F1,健身点,fitness_station,{LON0:.6f},{LAT0:.6f}\n", encoding="utf-8")
    (tmp / "candidates.csv").write_text(
        "id,name,lon,lat,cost\n"
        + "".join(f"K{k},lot{k},{LON0 + (k % 4) * 2 * STEP_LON + 0.0003:.6f},"
                  f"{LAT0 + (k // 4) * 2 * STEP_LAT + 0.0002:.6f},{1 + k % 3}\n"
                  for k in range(12)), encoding="utf-8")
    return {"network": tmp / "grid.osm", "demand": tmp / "communities.geojson",
            "facilities": tmp / "facilities.csv", "candidates": tmp / "candidates.csv"}


def base_args(files: dict[str, Path], out: Path) -> list[str]:
    return ["suggest-sites", "--network", str(files["network"]), "--facilities",
            str(files["facilities"]), "--demand", str(files["demand"]), "--category",
            "fitness_station", "--minutes", "5", "--out", str(out)]


def test_suggest_sites_mclp_writes_outputs(tmp_path: Path) -> None:
    from deyang_geo.cli.app import main

    files = write_inputs(tmp_path)
    out = tmp_path / "out"
    assert main([*base_args(files, out), "--new-sites", "2", "--candidates",
                 str(files["candidates"])]) == 0
    for name in ("sites.csv", "sites.geojson", "summary.json", "map.html", "alternatives.csv"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("covered_population_before", "covered_population_after", "objective", "bound",
                "gap", "status", "parameters"):
        assert key in summary
    assert summary["status"] == "optimal"
    assert summary["covered_population_after"] >= summary["covered_population_before"]

    sites = read_table(out / "sites.csv")
    assert list(sites["rank"]) == [1, 2]
    assert {"site_id", "longitude", "latitude", "added_population"} <= set(sites.columns)
    assert sites["site_id"].str.startswith("K").all()
    assert summary["objective"] == pytest.approx(sites["added_population"].sum())


def test_suggest_sites_network_candidates_and_models(tmp_path: Path) -> None:
    from deyang_geo.cli.app import main

    files = write_inputs(tmp_path)
    for model in ("lscp", "pmedian"):
        out = tmp_path / model
        extra = ["--new-sites", "2"] if model == "pmedian" else ["--target-share", "0.5"]
        assert main([*base_args(files, out), "--model", model, *extra]) == 0
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert summary["model"] == model
        assert summary["n_sites"] >= 1
        if model == "lscp":
            assert summary["covered_population_after"] >= 0.5 * summary["total_population"]


def test_suggest_sites_usage_errors(tmp_path: Path) -> None:
    from deyang_geo.cli.app import main

    files = write_inputs(tmp_path)
    assert main(base_args(files, tmp_path / "x")) == 2  # mclp without --new-sites
    assert main([*base_args(files, tmp_path / "x"), "--new-sites", "1", "--budget", "3"]) == 2


def test_thin_points_and_zones() -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from deyang_geo.planning.siting.candidates import drop_in_zones, thin_points

    x = np.array([10.0, 20.0, 150.0, 160.0, 50.0])
    y = np.array([10.0, 20.0, 10.0, 10.0, 50.0])
    kept = thin_points(x, y, spacing_m=100.0)
    assert list(kept) == [2, 4]  # nearest each cell centre
    kept2 = thin_points(x, y, spacing_m=100.0, priority=[5, 0, 0, 1, 0])
    assert sorted(kept2.tolist()) == [0, 3]
    pts = gpd.GeoDataFrame({"id": list("abcde")}, geometry=gpd.points_from_xy(x, y),
                           crs="EPSG:32648")
    zones = gpd.GeoSeries([box(0, 0, 30, 30)], crs="EPSG:32648")
    assert list(drop_in_zones(pts, zones)["id"]) == ["c", "d", "e"]


def test_suggest_sites_unknown_category(tmp_path: Path) -> None:
    from deyang_geo.cli.app import main

    files = write_inputs(tmp_path)
    args = base_args(files, tmp_path / "x")
    args[args.index("fitness_station")] = "gym_zzz"
    assert main([*args, "--new-sites", "1"]) == 2


def test_network_candidates_near_uncovered_points() -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from deyang_geo.analysis.routing import RoutingNetwork
    from deyang_geo.planning.siting.candidates import combine_candidates, network_candidates

    k, step = 11, 100.0
    idx = np.arange(k * k).reshape(k, k)
    jj, ii = np.meshgrid(np.arange(k), np.arange(k))
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()].astype(np.int64)
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()].astype(np.int64)
    net = RoutingNetwork.from_arrays(
        "EPSG:32648", node_ids=np.arange(k * k, dtype=np.int64) + 100,
        x=(jj * step).ravel().astype(float), y=(ii * step).ravel().astype(float),
        edge_u=np.r_[u, v], edge_v=np.r_[v, u], weights_s={"walk": np.full(2 * u.size, 90.0)})
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0.0], [0.0]), crs="EPSG:32648")
    cands = network_candidates(net, uncovered=pts, within_m=150.0, spacing_m=1.0)
    # nodes within 150 m of the origin: (0,0), (100,0), (0,100), (100,100)
    assert sorted(cands["id"]) == ["node:100", "node:101", "node:111", "node:112"]
    assert (cands["source"] == "network").all()
    thinned = network_candidates(net, spacing_m=500.0)
    assert len(thinned) == 9  # 3 x 3 cells of 500 m over 0..1000 m
    zones = gpd.GeoSeries([box(-1, -1, 50, 50)], crs="EPSG:32648")
    assert "node:100" not in set(network_candidates(net, uncovered=pts, within_m=150.0,
                                                    spacing_m=1.0, exclusion_zones=zones)["id"])
    planner = gpd.GeoDataFrame({"id": ["P1"], "name": ["lot"], "kind": ["vacant_lot"],
                                "cost": [2.0], "floor_area_m2": [300.0], "source": ["planner"],
                                "node": [-1]},
                               geometry=gpd.points_from_xy([10.0], [0.0]), crs="EPSG:32648")
    both = combine_candidates(planner, cands, min_separation_m=50.0)
    assert both["id"].iloc[0] == "P1"
    assert "node:100" not in set(both["id"])  # 10 m from the planner's lot
    assert len(both) == 4
