"""Shared fixtures: a tiny hand-made study (maps, figures, report) and a headless browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run and machine (results are reproducible
# and CI is never flaky); no example database is written into the checkout.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.load_profile("deterministic")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
XSS_NAME = "<script>alert(1)</script>"


@pytest.fixture
def study_layers() -> dict[str, Any]:
    """A tiny study in central Deyang: every layer a map can draw, with hostile names."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    from shapely.geometry import LineString, Point, box

    divisions = gpd.GeoDataFrame(
        {"code": ["510603"], "name_zh": ["旌阳区"], "name_en": ["Jingyang"]},
        geometry=[box(104.30, 31.05, 104.50, 31.20)], crs=4326)
    communities = gpd.GeoDataFrame(
        {"id": ["U1", "U2", "R1"], "name": ["东山社区", "<b>西街</b>社区", "五里村"],
         "kind": ["urban", "urban", "rural"], "population": [5000, 8000, 1200],
         "households": [1800, 3000, 450], "township": ["旌阳街道"] * 3,
         "division": ["旌阳区"] * 3, "synthetic": [True] * 3},
        geometry=[box(104.38, 31.12, 104.39, 31.13), box(104.39, 31.12, 104.40, 31.13),
                  Point(104.45, 31.16)], crs=4326).to_crs(32648)
    facilities = gpd.GeoDataFrame(
        {"id": ["F1", "F2", "F3"], "name": [XSS_NAME, "健身点", "`);alert(2);//${alert(3)}"],
         "category": ["service_station", "fitness_station", "health_room"],
         "floor_area_m2": [350.0, np.nan, 40.0], "synthetic": [True] * 3},
        geometry=[Point(104.385, 31.125), Point(104.395, 31.125), Point(104.44, 31.15)],
        crs=4326)
    coverage = pd.DataFrame(
        {"community_id": ["U1", "U2", "R1"] * 2,
         "category": ["service_station"] * 3 + ["fitness_station"] * 3,
         "covered_share_15min": [1.0, 0.5, 0.0, 1.0, 1.0, 0.1],
         "class": ["covered", "partly", "outside", "covered", "covered", "outside"],
         "minutes": [3.0, 12.0, np.nan, 2.0, 4.0, 40.0]})
    isochrones = gpd.GeoDataFrame(
        {"category": ["service_station"] * 3, "facility_id": ["F1"] * 3,
         "minutes": [5.0, 10.0, 15.0]},
        geometry=[Point(104.385, 31.125).buffer(r) for r in (0.004, 0.008, 0.012)], crs=4326)
    edges = gpd.GeoDataFrame(
        {"highway": ["primary", "residential", "residential", "footway"]},
        geometry=[LineString([(104.38, 31.12), (104.40, 31.12)]),
                  LineString([(104.39, 31.12), (104.39, 31.13)]),
                  LineString([(104.39, 31.13), (104.39, 31.12)]),
                  LineString([(104.38, 31.13), (104.385, 31.125)])], crs=4326)
    sites = gpd.GeoDataFrame(
        {"site_id": ["S1", "S2"], "rank": [2, 1], "added_population": [1200.0, 3400.0],
         "alternatives": [["C7", "C9"], ["C3"]], "category": ["service_station"] * 2},
        geometry=[Point(104.44, 31.16), Point(104.41, 31.14)], crs=4326)
    context = gpd.GeoDataFrame(
        {"kind": ["river", "railway"], "name": ["绵远河", "宝成铁路"]},
        geometry=[LineString([(104.40, 31.20), (104.41, 31.05)]),
                  LineString([(104.30, 31.10), (104.50, 31.15)])], crs=4326)
    outside = communities.to_crs(4326).iloc[[2]].rename(columns={"id": "community_id"})
    outside = outside.assign(category="service_station", uncovered_population_15min=1200.0)
    return {"divisions": divisions, "communities": communities, "facilities": facilities,
            "coverage": coverage, "isochrones": isochrones, "network_edges": edges,
            "sites": sites, "context": context, "outside": outside}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright; skipped when absent unless required."""
    required = os.environ.get("DEYANG_REQUIRE_BROWSER") == "1"
    if not CHROMIUM.exists():
        if required:
            pytest.fail(f"{CHROMIUM} is missing and DEYANG_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records page errors and dialogs and blocks every network request.

    ``page.dy_errors`` lists uncaught JavaScript errors, ``page.dy_dialogs`` the messages of
    alert/confirm/prompt dialogs; http(s) requests (tiles) are aborted, as on a machine
    without internet.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.route("http://**/*", lambda route: route.abort())
    page.route("https://**/*", lambda route: route.abort())
    page.dy_errors = errors
    page.dy_dialogs = dialogs
    try:
        yield page
    finally:
        context.close()
