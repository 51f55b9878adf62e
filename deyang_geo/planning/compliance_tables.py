"""Compliance results as planners read them: bilingual headers and statuses, and the workbook."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from deyang_geo.io.files import excel_safe
from deyang_geo.io.tables_zh import split_long_sheets, write_sheets

__all__ = [
    "HEADERS",
]

#: Bilingual headers of the written tables: column -> "中文 english".
HEADERS: dict[str, str] = {
    "community_id": "社区编号 community_id",
    "name": "名称 name",
    "kind": "城乡 kind",
    "township": "街道乡镇 township",
    "division": "区县 division",
    "target_id": "目标 target_id",
    "scope": "范围 scope",
    "target_kind": "检查类型 target_kind",
    "categories": "设施类别 categories",
    "threshold": "时间门槛 threshold",
    "reading": "判读方式 reading",
    "assumptions": "假设(规划未明示) assumptions",
    "plan_edition": "规划版本 plan_edition",
    "target_year": "目标年份 target_year",
    "unit": "单位 unit",
    "value": "现状值 value",
    "target": "目标值 target",
    "met": "达标 met",
    "status": "状态 status",
    "communities": "社区数 communities",
    "communities_met": "达标社区数 communities_met",
    "communities_short": "缺口社区数 communities_short",
    "population": "人口 population",
    "population_share": "覆盖人口比例 population_share",
    "people_short": "缺口人口 people_short",
    "m2_missing": "缺口面积(平方米) m2_missing",
    "facilities": "设施数 facilities",
    "facilities_short": "不达标设施数 facilities_short",
    "facilities_unknown": "未知设施数 facilities_unknown",
    "amount_short": "缺口数量 amount_short",
    "description_zh": "目标说明 description_zh",
    "description_en": "目标说明(英) description_en",
    "source": "依据 source",
    "verified": "已核实 verified",
    "standard_source": "标准依据 standard_source",
    "standard_verified": "标准已核实 standard_verified",
    "note": "备注 note",
    "id": "设施编号 id",
    "category": "类别 category",
    "floor_area_m2": "建筑面积(平方米) floor_area_m2",
    "min_floor_area_m2": "最小面积(平方米) min_floor_area_m2",
    "parameter": "参数 parameter",
    "entry": "条目 entry",
    "name_zh": "名称 name_zh",
    "name_en": "名称(英) name_en",
    "figure": "指标 figure",
    "standard_value": "标准值 standard_value",
}


_READING_ZH = {
    "travel_time": "出行时间 travel_time",
    "presence": "社区内建有 presence",
    "2sfca": "两步移动搜索 2sfca",
    "size": "设施面积 size",
    "attribute": "属性 attribute",
}

_STATUS_ZH = {
    "met": "达标 met",
    "missed": "未达标 missed",
    "no data": "无数据 no data",
    "no data in scope": "无数据 no data in scope",
}


def _status_text(status: Any) -> Any:
    if not isinstance(status, str):
        return status
    if status in _STATUS_ZH:
        return _STATUS_ZH[status]
    if status.startswith("not assessed"):
        return f"未评估 {status}"
    if status.startswith("not assessable"):
        return f"无法评估 {status}"
    return status


def _yes_no(value: Any, yes: str, no: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return yes if bool(value) else no


def for_planners(table: pd.DataFrame) -> pd.DataFrame:
    """Round, translate flags and statuses for planners, and make the headers bilingual."""
    out = table.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(4)
    if "status" in out.columns:
        out["status"] = out["status"].map(_status_text)
    if "reading" in out.columns:
        out["reading"] = out["reading"].map(lambda r: _READING_ZH.get(r, r))
    if "met" in out.columns:
        out["met"] = [_yes_no(v, "是 yes", "否 no") for v in out["met"]]
    for c in ("verified", "standard_verified"):
        if c in out.columns:
            out[c] = [_yes_no(v, "已核实 verified", "未核实 UNVERIFIED") for v in out[c]]
    for c in out.columns:
        if isinstance(c, str) and c.endswith(" met"):
            out[c] = [_yes_no(v, "是 yes", "否 no") for v in out[c]]
    return out.rename(columns={c: HEADERS.get(c, c) for c in out.columns})


def write_compliance_workbook(path: Path, sheets: list[tuple[str, pd.DataFrame]]
                              ) -> dict[str, list[str]]:
    """Write tables into one workbook, as openpyxl's write-only mode would, fast.

    Text that Excel would run as a formula is made safe first; a table longer than a sheet
    continues on numbered sheets (``社区 communities (2)``...), each with the header row.

    Parameters
    ----------
    path
        The ``.xlsx`` file (callers write atomically).
    sheets
        Sheet name -> table.

    Returns
    -------
    dict of str to list of str
        Each sheet name given -> the names of the sheets its rows were written on, in order.
    """
    pieces: dict[str, list[str]] = {}
    written: list[tuple[str, pd.DataFrame]] = []
    for name, raw in sheets:
        split = split_long_sheets([(name, excel_safe(raw))])  # names never run as formulas
        pieces[name] = [piece[:31] for piece, _ in split]
        written.extend(split)
    write_sheets(path, written, like="write_only")
    return pieces
