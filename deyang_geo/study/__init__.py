"""A whole study from one file: inputs, every step, all outputs; scenarios and batches.

- ``config``: the study file (TOML) read and checked;
- ``resolved``: the analysis settings resolved once (mode, speed, threshold, direction);
- ``pipeline``: the steps of one study (``run_study``), what ``deyang-geo run`` calls;
- ``outputs``: all of a study's files written (tables, map, figures, report);
- ``scenario``, ``scenario_runs``: planning scenarios applied, run and compared;
- ``compare``: two result folders compared;
- ``batch``: many areas at once on Dask (``run_batch``);
- ``demo``, ``synthetic_province``: the embedded demo data and a synthetic province.
"""

from __future__ import annotations

from deyang_geo.study.batch import run_batch
from deyang_geo.study.compare import compare_folders
from deyang_geo.study.config import load_study
from deyang_geo.study.demo import load_demo
from deyang_geo.study.pipeline import run_study
from deyang_geo.study.scenario_runs import run_scenarios

__all__ = [
    "compare_folders",
    "load_demo",
    "load_study",
    "run_batch",
    "run_scenarios",
    "run_study",
]
