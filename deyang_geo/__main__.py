"""Run the command line as ``python -m deyang_geo``."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
