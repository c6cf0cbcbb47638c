"""audit layer: rules over a finished tracking result (see docs/architecture.md)."""
