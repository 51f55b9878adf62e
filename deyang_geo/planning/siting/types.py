"""The types the siting models take: reach sets and per-unit or per-candidate arrays.

Every model reads the same shapes, so a notebook can pass what an earlier step returned:

- a reach set of candidates x demand units in travel minutes (``ReachSet`` from
  :func:`deyang_geo.analysis.reach_set`, or any scipy sparse matrix or array of minutes, with a
  0-minute entry stored explicitly);
- one value per demand unit (population, minutes to an existing facility, the unit's
  community) or per candidate (costs, capacities, floor areas), as any 1-D array-like;
- candidates named by position, by id or by a boolean mask (forced or excluded sites).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import numpy.typing as npt
import scipy.sparse as sp

from deyang_geo.analysis.access import ReachSet

__all__ = ["CandidatePick", "PerCandidate", "PerUnit", "Reach"]

#: Candidates x demand units, travel minutes, sparse (stored entries are reachable pairs).
Reach: TypeAlias = ReachSet | sp.sparray | sp.spmatrix
#: One value per demand unit, in the reach set's column order.
PerUnit: TypeAlias = npt.ArrayLike
#: One value per candidate, in the reach set's row order.
PerCandidate: TypeAlias = npt.ArrayLike
#: Candidates by position, by id, or as a boolean mask over the candidates.
CandidatePick: TypeAlias = npt.ArrayLike | Sequence[str]
