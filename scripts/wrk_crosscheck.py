#!/usr/bin/env python3
"""Cross-check Locust against wrk: ``chatbench crosscheck [--variants ...] [--scenario ...]``.

Interleaved Locust/wrk pairs per variant on the same service, scenario and CPU plan; exit 1
unless Locust/wrk lies within ±5 % for every variant (see chatbench/crosscheck.py).

    python scripts/wrk_crosscheck.py --variants django,fastapi --scenario chat --pairs 5
"""

import sys

from chatbench.cli import main

if __name__ == "__main__":
    sys.exit(main(["crosscheck", *sys.argv[1:]]))
