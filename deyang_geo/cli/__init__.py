"""The ``deyang-geo`` command line: one module per command, each a thin skin over the public API.

``app`` builds the parser and dispatches; ``common`` and ``analysis_options`` hold the options
several commands share; every other module is one command.
"""

from __future__ import annotations

from deyang_geo.cli.app import main

__all__ = ["main"]
