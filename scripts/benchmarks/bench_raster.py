"""Benchmark of demand units from population rasters (SYNTHETIC rasters, written to a temp dir).

Parts, each run in its own process so that peak memory (ru_maxrss) is per part:
  r10    a 10 m raster over 50 km x 50 km (5000 x 5000 = 25 M cells, about 70 % empty; people in
         clustered settlements), summed into 100 m units and attached to 400 communities
  r100   the same county at 100 m (500 x 500 cells), one unit per populated cell
  anchor GDAL (rasterio.warp.reproject, Resampling.sum) summing the 10 m raster to 100 m:
         a dense-grid reference for time and for the total number of people

Targets (issue 15): 10 m under 30 s and 2 GB; 100 m under 3 s.

Usage: python scripts/benchmarks/bench_raster.py [--part all|r10|r100|anchor]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CRS = "EPSG:32648"
X0, Y0 = 380_000.0, 3_470_000.0
SIDE_M = 50_000.0


def synthetic_raster(path: Path, cell_m: float, seed: int = 7) -> float:
    """Write a SYNTHETIC clustered population raster; return its total people."""
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(seed)
    n = int(SIDE_M / cell_m)
    total = 0.0
    centres = rng.uniform(0, SIDE_M, size=(300, 2))
    radii = rng.uniform(200, 1500, size=300)
    dens = rng.uniform(2000, 20000, size=300)  # people per km2
    profile = {"driver": "GTiff", "height": n, "width": n, "count": 1, "dtype": "float32",
               "crs": CRS, "transform": Affine(cell_m, 0, X0, 0, -cell_m, Y0),
               "nodata": -99999.0, "compress": "deflate", "tiled": True,
               "blockxsize": 512, "blockysize": 512}
    from rasterio.windows import Window

    with rasterio.open(path, "w", **profile) as ds:
        for r0 in range(0, n, 512):
            h = min(512, n - r0)
            yy = (np.arange(r0, r0 + h) + 0.5) * cell_m
            xx = (np.arange(n) + 0.5) * cell_m
            block = np.zeros((h, n), dtype=np.float32)
            for (cx, cy), r, d in zip(centres, radii, dens, strict=True):
                rows = np.flatnonzero(np.abs(yy - cy) < r)
                if rows.size == 0:
                    continue
                cols = np.flatnonzero(np.abs(xx - cx) < r)
                dd = (xx[cols][None, :] - cx) ** 2 + (yy[rows][:, None] - cy) ** 2
                inside = dd < r * r
                block[np.ix_(rows, cols)] += np.where(inside, d * cell_m * cell_m / 1e6, 0)
            block[block == 0] = -99999.0
            ds.write(block, 1, window=Window(0, r0, n, h))
            total += float(block[block > 0].sum(dtype=np.float64))
    return total


def communities():
    import geopandas as gpd
    import shapely

    k = 20
    step = SIDE_M / k
    boxes = [shapely.box(X0 + i * step, Y0 - (j + 1) * step, X0 + (i + 1) * step, Y0 - j * step)
             for j in range(k) for i in range(k)]
    return gpd.GeoDataFrame({"id": [f"C{i:03d}" for i in range(len(boxes))],
                             "township": [f"T{i // 40}" for i in range(len(boxes))]},
                            geometry=boxes, crs=CRS)


def run_part(part: str, folder: Path) -> dict[str, object]:
    from deyang_geo.analysis.raster_demand import demand_from_raster

    out: dict[str, object] = {"part": part}
    path = folder / "pop10.tif" if part in ("r10", "anchor") else folder / "pop100.tif"
    comm = communities()
    t0 = time.perf_counter()
    if part == "anchor":
        import rasterio
        from affine import Affine
        from rasterio.warp import Resampling, reproject

        with rasterio.open(path) as ds:
            dst = np.zeros((500, 500), dtype=np.float32)
            reproject(source=rasterio.band(ds, 1), destination=dst,
                      dst_transform=Affine(100.0, 0, X0, 0, -100.0, Y0), dst_crs=CRS,
                      resampling=Resampling.sum, src_nodata=-99999.0, dst_nodata=0)
        out["people"] = float(dst[dst > 0].sum(dtype=np.float64))
        out["units"] = int((dst > 0).sum())
    else:
        res = demand_from_raster(path, comm, crs=CRS,
                                 cell_size_m=100.0 if part == "r10" else None)
        out["people"] = float(res.units["population"].sum())
        out["units"] = len(res.units)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="all", choices=["all", "r10", "r100", "anchor"])
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.folder is not None:
        print(json.dumps(run_part(args.part, Path(args.folder))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        total10 = synthetic_raster(folder / "pop10.tif", 10.0)
        total100 = synthetic_raster(folder / "pop100.tif", 100.0)
        print(f"synthetic rasters written in {time.perf_counter() - t0:.1f} s: 10 m "
              f"{total10:,.0f} people ({(folder / 'pop10.tif').stat().st_size / 1e6:.1f} MB), "
              f"100 m {total100:,.0f} people")
        parts = ["r10", "r100", "anchor"] if args.part == "all" else [args.part]
        for part in parts:
            proc = subprocess.run([sys.executable, __file__, "--part", part, "--folder", tmp],
                                  capture_output=True, text=True, check=True)
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            expected = total100 if part == "r100" else total10
            res["people_expected"] = round(expected, 1)
            print(json.dumps(res))


if __name__ == "__main__":
    main()
