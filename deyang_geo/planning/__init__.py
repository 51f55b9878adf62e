"""Planning on top of the analysis: the plan's targets checked, and where new sites should go.

- ``compliance``: plan targets evaluated per community, township, division and city;
- ``compliance_tables``: those results as planners read them (bilingual, the workbook);
- ``siting``: location-allocation, one module per model family, solved with HiGHS.
"""

from __future__ import annotations

from deyang_geo.planning.compliance import (
    ComplianceResult,
    evaluate_compliance,
    gap_summary,
)

__all__ = [
    "ComplianceResult",
    "evaluate_compliance",
    "gap_summary",
]
