"""Options shared by several commands, so that they keep one name and one meaning everywhere."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from . import settings

log = logging.getLogger("deyang_geo")


def add_network_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--network``: an OSM file (.osm, .osm.bz2, .osm.gz, .osm.pbf) or a saved graph."""
    parser.add_argument(
        "--network", required=True, type=Path, metavar="NET",
        help="road network: .osm, .osm.bz2, .osm.gz, .osm.pbf or a saved graph (.graphml, .gpkg)",
    )


def add_points_options(parser: argparse.ArgumentParser, *, facilities: bool = True,
                       demand: bool = True) -> None:
    """Add ``--facilities``, ``--demand`` and ``--input-crs``."""
    if facilities:
        parser.add_argument(
            "--facilities", required=True, type=Path, metavar="FAC",
            help="facilities (GeoJSON, GeoPackage, Shapefile, CSV or Excel) with id and category",
        )
    if demand:
        parser.add_argument(
            "--demand", required=True, type=Path, metavar="DEM",
            help="communities or demand points (GeoJSON, GeoPackage, Shapefile, CSV or Excel) "
            "with id and population",
        )
    parser.add_argument(
        "--input-crs", default="wgs84", metavar="CRS",
        help="coordinate system of point files without one: wgs84, gcj02 (Amap, Tencent), "
        "bd09 (Baidu) or EPSG:<code> (default: wgs84)",
    )


def add_travel_options(parser: argparse.ArgumentParser, *, minutes: bool = True,
                       minutes_list: bool = False) -> None:
    """Add ``--mode``, ``--walk-speed-kmh`` and (unless ``minutes=False``) ``--minutes``."""
    parser.add_argument(
        "--mode", default="walk", choices=settings.modes,
        help="travel mode (default: walk)",
    )
    parser.add_argument(
        "--walk-speed-kmh", type=float, default=None, metavar="KMH",
        help=f"walking speed in km/h (default: {settings.walk_speed_kmh}, GB 50180-2018)",
    )
    if not minutes:
        return
    if minutes_list:
        parser.add_argument(
            "--minutes", default=",".join(f"{m:g}" for m in settings.isochrone_breaks_minutes),
            metavar="M[,M...]", help="time breaks in minutes, comma-separated (default: 5,10,15)",
        )
    else:
        parser.add_argument(
            "--minutes", type=float, default=None, metavar="M",
            help="time threshold in minutes (study file: threshold_minutes; default: each "
            "category's threshold from the standards catalog)",
        )


def add_out_option(parser: argparse.ArgumentParser, *, is_dir: bool = True) -> None:
    """Add ``--out``: the output folder (or file)."""
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR" if is_dir else "FILE",
        help="output folder" if is_dir else "output file",
    )


def add_lang_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--lang``: labels of maps, figures and reports in Chinese, English or both."""
    parser.add_argument("--lang", choices=("zh", "en", "both"), default="both",
                        help="labels in Chinese, English or both (default: both)")


def parse_minutes_list(text: str) -> tuple[float, ...]:
    """Parse ``"5,10,15"`` into ``(5.0, 10.0, 15.0)``; raise a usage error when malformed.

    A break given twice (``5,5,15``) is refused, as in a study file.
    """
    from ._errors import InputError
    from .config import check_minutes_list

    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        msg = f"--minutes must be numbers separated by commas, got {text!r}"
        raise InputError(msg) from None
    problem = check_minutes_list(values)  # the study file's isochrone_breaks_minutes check
    if problem:
        msg = f"--minutes: {problem}"
        raise InputError(msg)
    return tuple(sorted(values))


def echo(message: str) -> None:
    """Print a line for the user, surviving consoles that cannot show Chinese (GBK, ASCII).

    Nothing is printed under ``--quiet`` (the ``deyang_geo`` logger then shows warnings only).
    """
    if not log.isEnabledFor(logging.INFO):
        return
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    safe = message.encode(encoding, errors="replace").decode(encoding, errors="replace")
    print(safe, file=stream)


@contextlib.contextmanager
def warnings_to_log(*, quiet: bool = False) -> Iterator[None]:
    """Show the toolkit's input warnings as plain log lines instead of Python warnings.

    Parameters
    ----------
    quiet
        Leave the warning filters as they are (``--quiet`` ignores warnings).

    Yields
    ------
    None
        Nothing: the warnings raised inside the block are logged when it ends.
    """
    from ._errors import InputWarning

    with warnings.catch_warnings(record=True) as caught:
        if not quiet:
            warnings.simplefilter("always", InputWarning)
        yield
    for w in caught:
        if issubclass(w.category, InputWarning):
            log.warning("warning: %s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@contextlib.contextmanager
def step_progress(steps: tuple[str, ...], *, quiet: bool = False
                  ) -> Iterator[Callable[[str], None]]:
    """Yield an ``on_step(name)`` callback that drives a progress bar on an interactive console.

    On a terminal (and without ``--quiet``) a tqdm bar counts the steps and log lines are
    printed above it; elsewhere (files, CI, notebooks) the callback does nothing and the
    numbered step lines of the log are the progress report.

    Parameters
    ----------
    steps
        The names of the steps, in order.
    quiet
        No bar at all.

    Yields
    ------
    callable
        ``on_step(name)``, to call as each step starts.
    """
    if quiet or not sys.stderr.isatty():
        yield lambda _name: None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with tqdm(total=len(steps), unit="step", file=sys.stderr, leave=False) as bar, \
            logging_redirect_tqdm(loggers=[log]):
        seen: list[str] = []

        def on_step(name: str) -> None:
            if seen:
                bar.update(1)
            seen.append(name)
            bar.set_description(name)

        yield on_step
        bar.update(len(steps) - bar.n)
