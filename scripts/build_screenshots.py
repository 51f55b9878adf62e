"""Rebuild the README screenshots in docs/img/: the demo map with each --basemap, the report.

Runs the demo study once, writes its map once per base map (``osm``, ``light``, ``tianditu``
with a dummy key, ``amap``, ``none``) and photographs each in headless Chromium **offline**
(every tile request is aborted, as in a meeting room without internet): what shows is the
offline background drawn from the study's OSM file, under the overlays. The report's first
page is photographed as printed (A4, print styles).

Usage: ``python scripts/build_screenshots.py [--chromium /usr/bin/chromium]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
BASEMAPS = ("osm", "light", "tianditu", "amap", "none")


def _study_maps(work: Path) -> tuple[dict[str, Path], Path]:
    from deyang_geo.outputs import study_outputs as _outputs
    from deyang_geo.study import pipeline
    from deyang_geo.study.config import load_study
    from deyang_geo.study.demo import demo_data_dir

    captured: dict[str, Any] = {}
    original = _outputs.write_study_outputs

    def capture(result: Any, out_dir: Path, **kwargs: Any) -> dict[str, Path]:
        captured.update(result=result, kwargs=kwargs)
        return original(result, out_dir, **kwargs)

    _outputs.write_study_outputs = capture  # type: ignore[assignment]
    try:
        config = load_study(demo_data_dir() / "study.toml")
        output = dataclasses.replace(config.output, outputs=("map", "report", "figures"))
        pipeline.run_study(dataclasses.replace(config, output=output), out_dir=work / "osm")
    finally:
        _outputs.write_study_outputs = original  # type: ignore[assignment]
    maps = {"osm": work / "osm" / "map.html"}
    result = captured["result"]
    os.environ["TIANDITU_KEY"] = "dummyKey123"  # no real key: tiles are not fetched anyway
    for basemap in BASEMAPS[1:]:
        cfg = result.config
        out = dataclasses.replace(cfg.output, outputs=("map",), basemap=basemap)
        again = dataclasses.replace(result, config=dataclasses.replace(cfg, output=out))
        written = original(again, work / basemap, **captured["kwargs"])
        maps[basemap] = written["map"]
    return maps, work / "osm" / "report.html"


def main() -> None:
    """Write docs/img/map-<basemap>.png and docs/img/report-first-page.png."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        maps, report_html = _study_maps(Path(tmp))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium,
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.route("http://**/*", lambda route: route.abort())
            page.route("https://**/*", lambda route: route.abort())
            for basemap, path in maps.items():
                page.goto(path.as_uri())
                page.wait_for_selector(".dy-legend", timeout=30_000)
                page.wait_for_timeout(800)
                target = IMG / f"map-{basemap}.png"
                page.screenshot(path=str(target))
                print(f"wrote {target}")
            a4 = browser.new_page(viewport={"width": 794, "height": 1123})
            a4.emulate_media(media="print")
            a4.goto(report_html.as_uri())
            a4.wait_for_load_state("load")
            target = IMG / "report-first-page.png"
            a4.screenshot(path=str(target))
            print(f"wrote {target}")
            browser.close()


if __name__ == "__main__":
    main()
