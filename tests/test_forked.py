"""A call run in a forked process gives the value, warnings and errors of the same call here."""

from __future__ import annotations

import os
import warnings

import geopandas as gpd
import pytest
from shapely.geometry import box

from deyang_geo.core.errors import InputError, InputWarning
from deyang_geo.core.forked import ForkedCall, can_fork

needs_fork = pytest.mark.skipif(not can_fork(), reason="needs fork and two CPUs")


def _layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"minutes": [5.0, 10.0]},
                            geometry=[box(0, 0, 1, 1), box(0, 0, 2.000000000000001, 2)],
                            crs=32648)


def _pid_and_layer() -> tuple[int, gpd.GeoDataFrame]:
    return os.getpid(), _layer()


def _fails() -> None:
    raise InputError("facility F9 is 3 km from any street")


def _warns() -> int:
    warnings.warn("12 demand units not snapped", InputWarning, stacklevel=1)
    return 7


@needs_fork
def test_value_comes_back_equal_from_another_process() -> None:
    with ForkedCall(_pid_and_layer, background=True) as run:
        pid, layer = run.result()
    assert pid != os.getpid()
    assert layer.geom_equals_exact(_layer(), tolerance=0).all()
    assert layer.crs == _layer().crs
    assert run.result()[0] == pid  # asked twice: the same value, no second call


def test_in_process_when_not_in_background() -> None:
    run = ForkedCall(_pid_and_layer, background=False)
    assert run.result()[0] == os.getpid()


@needs_fork
def test_an_error_in_the_child_is_raised_as_it_is() -> None:
    run = ForkedCall(_fails, background=True)
    with pytest.raises(InputError, match="F9"):
        run.result()


@needs_fork
def test_warnings_of_the_child_reach_the_caller() -> None:
    run = ForkedCall(_warns, background=True)
    with pytest.warns(InputWarning, match="not snapped"):
        assert run.result() == 7


@needs_fork
def test_closed_before_asked_calls_here() -> None:
    run = ForkedCall(_pid_and_layer, background=True)
    run.close()
    run.close()
    assert run.result()[0] == os.getpid()


def test_a_study_runs_with_fewer_collections_and_restores_the_threshold() -> None:
    import gc

    from deyang_geo.study import pipeline

    seen = []

    @pipeline._fewer_collections
    def run() -> int:
        seen.append(gc.get_threshold()[0])
        raise InputError("stop")

    before = gc.get_threshold()
    with pytest.raises(InputError, match="stop"):
        run()
    assert seen == [max(before[0], pipeline.GC_THRESHOLD)]
    assert gc.get_threshold() == before


def _in_daemon(queue: object) -> None:
    """Body of a daemonic process (as a Dask worker is): a forked call and a figure job."""
    from deyang_geo.outputs.figures import can_draw_in_background

    with ForkedCall(_pid_and_layer, background=True) as run:
        pid, layer = run.result()
    auto = ForkedCall(_pid_and_layer)
    queue.put((os.getpid(), pid, len(layer), can_fork(), can_draw_in_background(),  # type: ignore[attr-defined]
               auto.result()[0]))


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(),
                    reason="needs fork")
def test_a_daemonic_process_calls_here() -> None:
    """Found: a study in a Dask worker (a daemonic process) failed with "daemonic processes
    are not allowed to have children": every area of `deyang-geo batch` failed."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_daemon, args=(queue,), daemon=True)
    proc.start()
    own, forced, rows, forkable, figures, auto = queue.get(timeout=60)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    assert forced == own  # asked for a child, called here instead
    assert rows == 2
    assert not forkable
    assert not figures
    assert auto == own
