"""export layer of the pipeline (see docs/architecture.md)."""
