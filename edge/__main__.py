"""``python -m edge``: the same entry point as the ``edge-music`` console script."""

from edge.cli import main

raise SystemExit(main())
