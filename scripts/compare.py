#!/usr/bin/env python3
"""Compare two runs (base A, candidate B): ``chatbench compare RUN_A RUN_B [--out DIR]``.

python scripts/compare.py results/<base> results/<candidate> --out /tmp/cmp
"""

import sys

from chatbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
