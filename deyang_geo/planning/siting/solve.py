"""HiGHS called directly on sparse models: MIPs with a start solution, LPs with duals."""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from deyang_geo.core.errors import SolverError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MipSolution:
    """What HiGHS returned for one model.

    Parameters
    ----------
    x
        Column values (NaN when no feasible solution was found).
    objective
        Objective of ``x`` (NaN when none).
    bound
        Proven bound on the optimum (upper for maximisation, lower for minimisation).
    gap
        Relative gap ``|bound - objective| / max(|objective|, 1)``; 0 when proven optimal.
    status
        ``"optimal"``, ``"time_limit"``, ``"gap_reached"`` (stopped at ``stop_at``),
        ``"infeasible"`` or ``"unbounded"``.
    time_s
        Wall-clock seconds spent in HiGHS.
    row_duals
        Row duals (LP solves only; empty for MIPs).
    """

    x: FloatArray
    objective: float
    bound: float
    gap: float
    status: str
    time_s: float
    row_duals: FloatArray


def relative_gap(objective: float, bound: float) -> float:
    """Return ``|bound - objective| / max(|objective|, 1)`` (0 when both are equal)."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    return abs(bound - objective) / max(abs(objective), 1.0)


@contextlib.contextmanager
def _quiet_fd(fd: int) -> Iterator[None]:
    try:
        sys.stdout.flush()
        saved = os.dup(fd)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (notebooks, tests)
        yield
        return
    try:
        with Path(os.devnull).open("w", encoding="utf-8") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


class _Stop:
    """Interrupt HiGHS at a wall-clock deadline, or once its incumbent reaches ``stop_at``.

    HiGHS checks its own ``time_limit`` only at some points (a long presolve pass, root-node
    separation or one big node can run far past it); the interrupt callbacks run inside the
    simplex, interior-point and branch-and-bound loops, so the deadline holds there too.
    ``stop_at`` is an objective value that proves the caller's gap against a bound HiGHS does
    not know (e.g. a Lagrangian bound of the whole problem).
    """

    def __init__(self, *, deadline: float, stop_at: float | None, maximize: bool) -> None:
        self.deadline = deadline
        self.stop_at = stop_at
        self.maximize = maximize
        self.reached = False
        self.timed_out = False

    def __call__(self, event: Any) -> None:
        if time.perf_counter() >= self.deadline:
            self.timed_out = True
            event.interrupt()
            return
        if self.stop_at is None or event.callback_type != _mip_interrupt():
            return
        best = float(event.data_out.mip_primal_bound)
        if math.isfinite(best) and (best >= self.stop_at if self.maximize
                                    else best <= self.stop_at):
            self.reached = True
            event.interrupt()


def _mip_interrupt() -> Any:
    import highspy

    return highspy.cb.HighsCallbackType.kCallbackMipInterrupt


#: Above this many nonzeros a MIP skips HiGHS's presolve: it cannot be interrupted (it ran
#: 5-11 s on the 20,000 x 5,000 clustered MCLP, past an 8 s limit) and on the siting models,
#: reduced exactly before they reach HiGHS, it found nothing to remove.
_PRESOLVE_MAX_NNZ = 250_000


def _new_highs() -> Any:
    import highspy

    # HiGHS prints its banner from C++ on construction; keep the user's console clean.
    with contextlib.redirect_stdout(io.StringIO()), _quiet_fd(1):
        h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    return h


def solve(
    cost: FloatArray,
    matrix: sp.sparray | sp.spmatrix,
    row_bounds: tuple[FloatArray, FloatArray],
    col_bounds: tuple[FloatArray, FloatArray],
    *,
    integer: BoolArray | None,
    maximize: bool,
    time_limit_s: float,
    mip_rel_gap: float = 0.0,
    start: FloatArray | None = None,
    lp_method: str = "ipm",
    threads: int | None = None,
    deadline: float | None = None,
    stop_at: float | None = None,
) -> MipSolution:
    """Solve ``opt cost @ x  s.t.  row_lower <= matrix @ x <= row_upper, bounds, integrality``.

    Parameters
    ----------
    cost
        Objective coefficients, one per column.
    matrix
        The constraint matrix (any scipy sparse format; converted to CSC).
    row_bounds
        Lower and upper row bounds (``-inf`` / ``inf`` for one-sided rows).
    col_bounds
        Lower and upper column bounds.
    integer
        Which columns are integer; ``None`` solves the LP and returns row duals.
    maximize
        Maximise instead of minimise.
    time_limit_s
        Wall-clock limit in seconds.
    deadline
        A ``time.perf_counter()`` value HiGHS must stop by (the caller's whole budget); the
        tighter of this and ``time_limit_s`` holds, enforced by interrupt callbacks too.
    mip_rel_gap
        Relative gap at which the MIP search stops (0 proves optimality).
    start
        A feasible column vector handed to HiGHS as the first incumbent.
    lp_method
        LP algorithm when ``integer`` is ``None``: ``"ipm"`` (interior point, no crossover),
        ``"simplex"`` or ``"pdlp"`` (first-order; stopped at its time limit it still returns
        its current duals, approximate but finite).
    threads
        Worker threads for HiGHS (``None``: its default).
    stop_at
        MIP only: stop as soon as the incumbent's objective reaches this value (at least it
        when maximising, at most it when minimising); the status is then ``"gap_reached"``.

    Returns
    -------
    MipSolution
        Status, objective, bound and gap as reported by HiGHS.

    Raises
    ------
    SolverError
        If HiGHS fails for a reason that is not the model's (memory, numerical trouble).
    """
    import highspy

    row_lower, row_upper = row_bounds
    col_lower, col_upper = col_bounds
    n_col = int(cost.shape[0])
    a = sp.csc_array(matrix, dtype=np.float64)
    n_row = int(a.shape[0])
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    lp.col_cost_ = np.ascontiguousarray(cost, dtype=np.float64)
    lp.col_lower_ = np.ascontiguousarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.ascontiguousarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.ascontiguousarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.ascontiguousarray(row_upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = n_row
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    is_mip = integer is not None and bool(np.any(integer))
    if is_mip:
        assert integer is not None
        kinds = [highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous]
        lp.integrality_ = [kinds[0] if flag else kinds[1] for flag in integer.tolist()]
    h = _new_highs()
    h.passModel(lp)
    t0 = time.perf_counter()
    limit = float(time_limit_s) if deadline is None else min(float(time_limit_s),
                                                               deadline - t0)
    limit = max(limit, 0.01)
    h.setOptionValue("time_limit", limit)
    stop = _Stop(deadline=t0 + limit, stop_at=stop_at if is_mip else None, maximize=maximize)
    h.cbSimplexInterrupt += stop
    h.cbIpmInterrupt += stop
    if is_mip:
        h.cbMipInterrupt += stop
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    if is_mip:
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if a.nnz > _PRESOLVE_MAX_NNZ:
            h.setOptionValue("presolve", "off")
        if start is not None:
            # the feasibility-jump heuristic looks for a first solution (we give one) and
            # runs before HiGHS checks its time limit or calls back (5 s on the case above)
            h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
            sol = highspy.HighsSolution()
            sol.col_value = np.asarray(start, dtype=np.float64)
            sol.value_valid = True
            h.setSolution(sol)
    elif lp_method == "ipm":
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "off")
    elif lp_method == "pdlp":
        # first-order: interruptible only by its own time limit, and its duals at that
        # point are still usable (callers evaluate a bound from them exactly)
        h.setOptionValue("solver", "pdlp")
    else:
        h.setOptionValue("solver", "simplex")
    run_status = h.run()
    elapsed = time.perf_counter() - t0
    model_status = h.getModelStatus()
    name = h.modelStatusToString(model_status)
    info = h.getInfo()
    sol = h.getSolution()
    ms = highspy.HighsModelStatus
    if model_status == ms.kInfeasible:
        status = "infeasible"
    elif model_status in (ms.kUnbounded, ms.kUnboundedOrInfeasible):
        status = "unbounded" if model_status == ms.kUnbounded else "infeasible"
    elif model_status == ms.kOptimal:
        status = "optimal"
    elif model_status == ms.kInterrupt and stop.reached:
        status = "gap_reached"
    elif model_status in (ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit):
        status = "time_limit"
    else:
        msg = f"HiGHS stopped with status {name!r} ({run_status})"
        raise SolverError(msg)
    has_x = bool(sol.value_valid) and status in ("optimal", "time_limit", "gap_reached")
    if is_mip and has_x:
        has_x = info.primal_solution_status >= 1
    x = np.asarray(sol.col_value, dtype=np.float64) if has_x else np.full(n_col, np.nan)
    objective = float(info.objective_function_value) if has_x else math.nan
    if is_mip:
        bound = float(info.mip_dual_bound)
        if status == "optimal":
            bound = objective
    else:
        bound = objective if status == "optimal" else math.nan
    dual_ok = bool(sol.dual_valid) or (lp_method == "pdlp" and status == "time_limit"
                                       and len(sol.row_dual) == n_row)
    duals = (np.asarray(sol.row_dual, dtype=np.float64)
             if not is_mip and dual_ok else np.empty(0))
    return MipSolution(
        x=x, objective=objective, bound=bound, gap=relative_gap(objective, bound),
        status=status, time_s=elapsed, row_duals=duals,
    )
