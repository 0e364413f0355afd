#!/usr/bin/env python3
"""Redraw summary, charts and report.html of a run directory: ``chatbench report RUN_DIR``.

python scripts/report.py results/<run-id>
"""

import sys

from chatbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
