"""Allow ``python -m ipsec_inspect``."""

from ipsec_inspect.cli import main

raise SystemExit(main())
