"""`python -m proxyinit` is the same as the `proxyinit` console script."""

from proxyinit.cli import main

raise SystemExit(main())
