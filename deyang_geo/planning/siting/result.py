"""The frozen result of a siting model, its site ranking, swap alternatives and file output."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from deyang_geo.io.exports import write_exports
from deyang_geo.io.files import atomic_path, write_csv_atomic, write_text_atomic
from deyang_geo.io.tables_zh import write_csv
from deyang_geo.planning.siting.places import describe_alternatives, describe_sites

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SitingResult:
    """What a siting model chose and how good that choice is proven to be.

    Attributes
    ----------
    model
        ``"mclp"``, ``"lscp"``, ``"pmedian"``, ``"capacitated"`` or ``"multi_category"``.
    sites
        One row per chosen site in rank order: ``site_id``, ``candidate_index``, ``rank``,
        ``added_population`` (population newly within reach when the sites are added in rank
        order), ``newly_covered_communities`` (list of community ids, when a unit -> community
        map was given), plus model-specific columns (``assigned_population``,
        ``services``...).
    alternatives
        For each chosen site its best swaps: ``site_id``, ``alternative_id``,
        ``alternative_rank`` (1..k), ``objective_if_swapped`` (exact objective of the
        solution with that single swap), ``objective_change``.
    covered_population_before, covered_population_after
        Population within reach of an existing facility, then of an existing or a chosen one.
    total_population
        Population of all demand units.
    uncoverable_population
        Population no candidate and no existing facility reaches.
    objective
        Objective of the chosen solution, in the model's units (see ``objective_name``).
    bound
        Proven bound on the best possible objective (upper for maximisation, lower for
        minimisation).
    gap
        ``|bound - objective| / max(|objective|, 1)``; 0 when proven optimal.
    status
        ``"optimal"``; ``"gap_reached"`` (stopped within the requested ``mip_gap``);
        ``"time_limit"`` (stopped with a feasible solution and a proven gap);
        ``"feasible"`` (p-median: optimal on the nearest-k lists, gap proven on the whole).
    solve_time_s
        Wall-clock seconds from the call to the result (reductions, greedy, solver).
    greedy_objective
        Objective of the greedy solution computed first (and given to HiGHS as a start).
    objective_name
        What the objective counts, e.g. ``"added_population"`` or ``"weighted_minutes"``.
    parameters
        The options used, JSON-serialisable.
    reductions
        Sizes before and after the reductions (demand columns merged, candidates dropped).
    community_coverage
        Per community (when a map was given): ``community_id``, ``population``,
        ``covered_population_before``, ``covered_population_after``.
    """

    model: str
    sites: pd.DataFrame
    alternatives: pd.DataFrame
    covered_population_before: float
    covered_population_after: float
    total_population: float
    uncoverable_population: float
    objective: float
    bound: float
    gap: float
    status: str
    solve_time_s: float
    greedy_objective: float
    objective_name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    reductions: Mapping[str, int] = field(default_factory=dict)
    community_coverage: pd.DataFrame | None = None

    @property
    def site_ids(self) -> list[str]:
        """Return the chosen site ids in rank order."""
        return [str(s) for s in self.sites["site_id"]]

    def summary(self) -> dict[str, Any]:
        """Return the JSON-serialisable summary written to ``summary.json``."""
        def num(v: float) -> float | None:
            return None if not math.isfinite(v) else float(v)

        return {
            "model": self.model,
            "status": self.status,
            "objective_name": self.objective_name,
            "objective": num(self.objective),
            "bound": num(self.bound),
            "gap": num(self.gap),
            "greedy_objective": num(self.greedy_objective),
            "covered_population_before": num(self.covered_population_before),
            "covered_population_after": num(self.covered_population_after),
            "total_population": num(self.total_population),
            "uncoverable_population": num(self.uncoverable_population),
            "n_sites": len(self.sites),
            "site_ids": self.site_ids,
            "solve_time_s": round(self.solve_time_s, 3),
            "reductions": dict(self.reductions),
            "parameters": dict(self.parameters),
        }

    def write(
        self,
        out_dir: str | os.PathLike[str],
        *,
        candidates: Any | None = None,
        communities: pd.DataFrame | None = None,
        extra_summary: Mapping[str, Any] | None = None,
        streets: Any | None = None,
        lang: str = "en",
    ) -> dict[str, Path]:
        """Write ``sites.csv``, ``alternatives.csv``, ``summary.json`` (and more when known).

        ``sites.geojson`` is written when ``candidates`` are given; ``community_coverage.csv``
        when the model had a unit -> community map, and ``division_coverage.csv`` when
        ``communities`` (with ``id`` and ``division``) are given too.

        Parameters
        ----------
        out_dir
            Output folder (created if needed). Every file is written atomically.
        candidates
            Optional GeoDataFrame of the candidates with an ``id`` column matching
            ``site_id``; when given, ``longitude``/``latitude`` are added to ``sites.csv`` and
            ``sites.geojson`` is written (WGS-84).
        communities
            The communities table (``id``, ``division``), to sum coverage per division.
        extra_summary
            More keys for ``summary.json`` (input files, travel options...).
        streets
            Named streets (:func:`deyang_geo.planning.siting.places.named_streets`): with
            ``candidates``, every site and alternative gets its nearest named street, the
            community and township it lies in, 6-decimal WGS-84 and GCJ-02 coordinates, and
            each alternative its numbers said in words (``compared_with_chosen``).
        lang
            ``"zh"``/``"both"``: ``sites.csv`` and ``alternatives.csv`` Chinese first
            (:mod:`deyang_geo.io.tables_zh`); ``"en"``: English keys.

        Returns
        -------
        dict
            File kind -> path written.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table = self.sites_table(candidates)
        alternatives = self.alternatives.copy()
        if candidates is not None and len(table) and "geometry" in table.columns:
            geo_communities = communities if isinstance(communities, gpd.GeoDataFrame) else None
            table = describe_sites(table, candidates, streets=streets,
                                   communities=geo_communities)
            if (communities is not None and "newly_covered_communities" in table.columns
                    and {"id", "name"} <= set(communities.columns)):
                # names, not only ids, of the communities a site brings within reach
                by_id = dict(zip(communities["id"].astype(str),
                                 communities["name"].astype(str), strict=True))
                table["newly_covered_names"] = [
                    [by_id.get(str(c), str(c)) for c in v] if isinstance(v, (list, tuple))
                    else v for v in table["newly_covered_communities"]]
            names = dict(zip(table["site_id"].astype(str), table["name"], strict=True))
            alternatives = describe_alternatives(
                alternatives, candidates, objective_name=self.objective_name, streets=streets,
                communities=geo_communities, site_names=names)
        written: dict[str, Path] = {}
        flat = table.copy()
        if "newly_covered_communities" in flat.columns:
            flat["newly_covered_communities"] = [
                ";".join(str(c) for c in v) if isinstance(v, (list, tuple)) else v
                for v in flat["newly_covered_communities"]
            ]
        if "newly_covered_names" in flat.columns:
            flat["newly_covered_names"] = [
                ";".join(str(c) for c in v) if isinstance(v, (list, tuple)) else v
                for v in flat["newly_covered_names"]]
        if "services" in flat.columns:
            flat["services"] = [";".join(v) if isinstance(v, (list, tuple)) else v
                                for v in flat["services"]]
        # the Chinese table rounds people to whole persons itself: from the exact values, so
        # 12.51 people is 13, not 12.5 and then 12 (rounding twice)
        exact = flat.drop(columns=["geometry"], errors="ignore")
        for col in ("added_population", "assigned_population"):
            if col in flat.columns:  # people: one decimal is plenty (weights are fractional)
                flat[col] = flat[col].astype(float).round(1)
        plain = flat.drop(columns=["geometry"], errors="ignore")
        if lang != "en":
            written["sites.csv"] = write_csv(pd.DataFrame(exact), out / "sites.csv", lang=lang)
        else:
            written["sites.csv"] = write_csv_atomic(pd.DataFrame(plain), out / "sites.csv")
        for col in ("objective_if_swapped", "objective_change"):
            if col in alternatives.columns:
                alternatives[col] = alternatives[col].astype(float).round(1)
        if lang != "en":
            written["alternatives.csv"] = write_csv(alternatives, out / "alternatives.csv",
                                                    lang=lang)
        else:
            written["alternatives.csv"] = write_csv_atomic(alternatives,
                                                           out / "alternatives.csv")
        if "geometry" in flat.columns:
            gdf = gpd.GeoDataFrame(flat, geometry="geometry", crs="EPSG:4326")
            with atomic_path(out / "sites.geojson") as tmp:
                gdf.to_file(tmp, driver="GeoJSON", layer="sites")
            written["sites.geojson"] = out / "sites.geojson"

            for path in write_exports(gdf, out / "sites", name="建议选址 / Proposed sites"):
                written[path.name] = path  # sites.kml, sites_gcj02.geojson
        summary = self.summary()
        if self.community_coverage is not None:
            per = self.community_coverage.copy()
            if communities is not None and {"id", "division"} <= set(communities.columns):
                lookup = dict(zip(communities["id"].astype(str), communities["division"],
                                  strict=True))
                per.insert(1, "division", [lookup.get(c) for c in per["community_id"]])
                div = (per.drop(columns=["community_id"])
                       .groupby("division", sort=True, dropna=False).sum().reset_index())
                written["division_coverage.csv"] = write_csv_atomic(
                    div, out / "division_coverage.csv")
                summary["divisions"] = div.to_dict(orient="records")
            written["community_coverage.csv"] = write_csv_atomic(
                per, out / "community_coverage.csv")
        if extra_summary:
            summary.update(extra_summary)
        written["summary.json"] = write_text_atomic(
            out / "summary.json", json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        return written

    def sites_table(self, candidates: Any | None = None) -> pd.DataFrame:
        """Return the chosen sites, with ``longitude``, ``latitude`` and geometry if possible."""
        table = self.sites.copy()
        if candidates is None or len(table) == 0:
            return table
        pts = candidates
        if getattr(pts, "crs", None) is not None:
            pts = pts.to_crs("EPSG:4326")
        lookup = {str(i): k for k, i in enumerate(pts["id"].astype(str))}
        pos = [lookup.get(str(s)) for s in table["site_id"]]
        if any(p is None for p in pos):
            return table
        geoms = pts.geometry.iloc[[int(p) for p in pos if p is not None]].to_numpy()
        table.insert(1, "longitude", [round(float(g.x), 7) for g in geoms])
        table.insert(2, "latitude", [round(float(g.y), 7) for g in geoms])
        table["geometry"] = geoms
        return table


def rank_sites(a_new: sp.csr_array, weights: FloatArray, sites: IntArray) -> tuple[IntArray,
                                                                                  FloatArray]:
    """Order chosen sites greedily by the weight each adds after the ones before it.

    ``a_new`` covers only the demand not yet covered. Returns the order and added weights.
    Ties go to the lower candidate index.
    """
    sites = np.asarray(sites, dtype=np.int64)
    if sites.size == 0:
        return sites, np.zeros(0)
    sub = sp.csr_array(a_new[np.sort(sites)])
    idx = np.sort(sites)
    csc = sp.csc_array(sub)
    gain = np.asarray(sub @ weights, dtype=np.float64)
    covered = np.zeros(a_new.shape[1], dtype=bool)
    left = np.ones(idx.size, dtype=bool)
    order: list[int] = []
    added: list[float] = []
    for _ in range(idx.size):
        k = int(np.argmax(np.where(left, gain, -np.inf)))
        left[k] = False
        order.append(int(idx[k]))
        row = sub.indices[sub.indptr[k]:sub.indptr[k + 1]]
        new = row[~covered[row]]
        covered[new] = True
        added.append(float(weights[new].sum()))
        if new.size:
            gain -= np.asarray(csc[:, new] @ weights[new], dtype=np.float64)
    return np.asarray(order, dtype=np.int64), np.asarray(added)


def coverage_swaps(
    a: sp.csr_array,
    weights: FloatArray,
    before: BoolArray,
    sites: IntArray,
    *,
    allowed: BoolArray,
    k: int,
) -> list[tuple[int, list[tuple[int, float]]]]:
    """For each chosen site, the ``k`` best single swaps by covered weight (exact).

    Returns, per site, ``(site, [(alternative, covered weight after swap), ...])``, best first,
    ties to the lower index.
    """
    n = a.shape[0]
    at = sp.csr_array(a.T)
    pick = np.zeros(n)
    pick[np.asarray(sites, dtype=np.int64)] = 1.0
    cnt = np.asarray(at @ pick) + before.astype(np.float64)
    total = float(weights[cnt > 0].sum())
    out: list[tuple[int, list[tuple[int, float]]]] = []
    for s in np.asarray(sites, dtype=np.int64):
        row = a.indices[a.indptr[s]:a.indptr[s + 1]]
        cnt2 = cnt.copy()
        cnt2[row] -= 1.0
        loss = float(weights[row][cnt2[row] == 0].sum())
        gain = np.asarray(a @ (weights * (cnt2 == 0)), dtype=np.float64)
        ok = allowed.copy()
        ok[np.asarray(sites, dtype=np.int64)] = False
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            out.append((int(s), []))
            continue
        values = total - loss + gain[cand]
        order = np.lexsort((cand, -values))[:k]
        out.append((int(s), [(int(cand[o]), float(values[o])) for o in order]))
    return out


def alternatives_frame(
    swaps: Sequence[tuple[int, list[tuple[int, float]]]],
    ids: Sequence[str],
    objective: float,
) -> pd.DataFrame:
    """Tabulate swap alternatives with candidate ids and the objective change."""
    rows = [
        {"site_id": ids[s], "alternative_rank": r + 1, "alternative_id": ids[alt],
         "objective_if_swapped": value, "objective_change": value - objective}
        for s, alts in swaps for r, (alt, value) in enumerate(alts)
    ]
    cols = ["site_id", "alternative_rank", "alternative_id", "objective_if_swapped",
            "objective_change"]
    return pd.DataFrame(rows, columns=cols)


def communities_reached(
    newly: Sequence[BoolArray],
    unit_community: Any | None,
    weights: FloatArray,
    covered_before: BoolArray,
    covered_after: BoolArray,
) -> tuple[list[list[str]], pd.DataFrame | None]:
    """Map newly covered units to communities; per-community coverage before/after."""
    if unit_community is None:
        return [[] for _ in newly], None
    comm = np.asarray(unit_community).astype(str)
    lists = [sorted(set(comm[mask].tolist())) for mask in newly]
    frame = pd.DataFrame({"community_id": comm, "population": weights,
                          "before": np.where(covered_before, weights, 0.0),
                          "after": np.where(covered_after, weights, 0.0)})
    per = frame.groupby("community_id", sort=True).sum().reset_index()
    per = per.rename(columns={"before": "covered_population_before",
                              "after": "covered_population_after"})
    return lists, per
