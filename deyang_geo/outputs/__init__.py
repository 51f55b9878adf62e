"""What a planner opens: interactive maps, printable figures and the review-meeting report.

- ``webmap``: the study map (folium, self-contained, works offline);
- ``command_map``: one map builder for every command's results;
- ``webmap_compare``, ``batch_map``: the before/after map and the map of many areas;
- ``figures``: printable PNG/PDF maps and charts with Chinese that renders;
- ``report``, ``report_summary``: the HTML/PDF report, its workbook, CSVs and GeoPackage.
"""

from __future__ import annotations
