"""``python -m samples.generator [OUTDIR]``: regenerate every sample (default: samples/)."""

from .generate import main

raise SystemExit(main())
