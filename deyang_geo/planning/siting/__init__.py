"""Site suggestion: location-allocation models on sparse reach sets, solved exactly with HiGHS."""

from __future__ import annotations

from deyang_geo.planning.siting.capacitated import capacitated_coverage
from deyang_geo.planning.siting.core import coverage_matrix, minutes_csr
from deyang_geo.planning.siting.maximal_coverage import mclp
from deyang_geo.planning.siting.p_median import pmedian
from deyang_geo.planning.siting.result import SitingResult
from deyang_geo.planning.siting.set_cover import lscp
from deyang_geo.planning.siting.shared_candidates import multi_category
from deyang_geo.planning.siting.suggest import Suggestion, suggest_sites

__all__ = [
    "SitingResult",
    "Suggestion",
    "capacitated_coverage",
    "coverage_matrix",
    "lscp",
    "mclp",
    "minutes_csr",
    "multi_category",
    "pmedian",
    "suggest_sites",
]
