"""``python -m chatbench.cli``: the ``chatbench`` command."""

import sys

from chatbench.cli import main

sys.exit(main())
