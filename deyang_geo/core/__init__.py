"""The foundation every stage stands on: errors, settings and the shared vocabulary.

- ``errors``: the exception hierarchy (every error a user can cause subclasses a built-in);
- ``settings``: typed defaults, read at call time;
- ``crs``: GCJ-02 / BD-09 <-> WGS-84 and the local metric CRS of a study area;
- ``standards``: the planning-standards catalog (categories, life circles, plan targets);
- ``style``: names and colours of categories, classes and minute bands, Chinese and English.

Nothing here imports another stage.
"""

from __future__ import annotations
