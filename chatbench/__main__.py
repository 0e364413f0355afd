"""``python -m chatbench``: the same command as the installed ``chatbench``."""

from chatbench.cli import main

raise SystemExit(main())
