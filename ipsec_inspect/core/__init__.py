"""core layer: what every other layer shares — records, errors, the bounds-checked reader
and the extension-table row types (see docs/architecture.md). Imports nothing above it."""
