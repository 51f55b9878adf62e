"""Run the command line as ``python -m deyang_geo``."""

from __future__ import annotations

import sys

from deyang_geo.cli.app import main

sys.exit(main())
