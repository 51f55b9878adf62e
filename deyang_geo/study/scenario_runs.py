"""A study's base and each of its scenarios run, recorded (``settings.json``) and compared."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deyang_geo import __version__
from deyang_geo.io.files import dumps_json, write_text_atomic
from deyang_geo.study.compare import compare_folders
from deyang_geo.study.pipeline import run_study

if TYPE_CHECKING:
    from deyang_geo.study.compare import Comparison
    from deyang_geo.study.config import StudyConfig
    from deyang_geo.study.pipeline import StudyResult

from deyang_geo.study.scenario import Scenario

log = logging.getLogger("deyang_geo")

__all__ = [
    "run_scenarios",
    "settings_record",
]

#: File name of the settings record written into every folder a scenario run produces.
SETTINGS_FILE = "settings.json"


# ---------------------------------------------------------------------------------------------
# running a study's scenarios


def settings_record(config: StudyConfig, *, scenario: Scenario | None = None,
                    ) -> dict[str, Any]:
    """Return the resolved settings of a run, as written to ``settings.json``.

    Parameters
    ----------
    config
        The configuration the run used (after the scenario's changes).
    scenario
        The scenario, or None for the base.

    Returns
    -------
    dict
        ``{"deyang_geo_version", "study", "scenario"}`` in JSON-ready values.
    """
    study = config.as_dict()
    study.pop("path", None)
    study.pop("output", None)
    return {"deyang_geo_version": __version__, "study": study,
            "scenario": None if scenario is None else scenario.as_dict()}


def write_settings(folder: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``settings.json`` (the record of :func:`settings_record`) into a result folder."""
    return write_text_atomic(Path(folder) / SETTINGS_FILE, dumps_json(record))


def run_scenarios(config: StudyConfig, *, out_dir: str | os.PathLike[str] | None = None,
                  on_step: Callable[[str], None] | None = None,
                  ) -> tuple[StudyResult, dict[str, tuple[StudyResult, Comparison]]]:
    """Run a study's base and each of its scenarios, and compare every scenario with the base.

    The base is written to ``OUT`` as by ``deyang-geo run``; scenario ``NAME`` to
    ``OUT/scenarios/NAME`` and its comparison to ``OUT/compare/NAME``. Each run folder gets a
    ``settings.json`` with its resolved settings.

    Parameters
    ----------
    config
        The study configuration with ``[scenario.NAME]`` tables.
    out_dir
        Output folder; None means the study file's ``[output] folder``.
    on_step
        Progress callback (see :func:`deyang_geo.study.pipeline.run_study`).

    Returns
    -------
    tuple
        The base result, and per scenario name its result and comparison.
    """
    out = Path(out_dir) if out_dir is not None else config.output.folder
    base = run_study(config, out_dir=out, on_step=on_step)
    write_settings(out, settings_record(config))
    results: dict[str, tuple[StudyResult, Comparison]] = {}
    for scenario in getattr(config, "scenarios", ()):
        log.info("scenario %s", scenario.summary())
        folder = out / "scenarios" / scenario.name
        res = run_study(config, out_dir=folder, on_step=on_step, proposal=scenario)
        write_settings(folder, settings_record(res.config, scenario=scenario))
        comparison = compare_folders(out, folder, names=("base", scenario.name),
                                     communities=base.inputs.communities)
        comparison.write(out / "compare" / scenario.name)
        results[scenario.name] = (res, comparison)
    return base, results

