"""Plugins: extend ipsec-inspect without forking it (``docs/plugins.md``).

- :mod:`.api` — what a plugin registers: Vendor IDs, notify and private payload decoders,
  key-file formats, audit rules, exporters.
- :mod:`.loader` — finding plugins (entry point group ``ipsec_inspect.plugins``,
  ``--plugin-dir``, a checkout's ``plugins/``).
- :mod:`.registry` — what was loaded or failed, with every plugin callable guarded.
- :mod:`.compose` — the registry and the core's tables composed into the run's frozen
  ``core.extensions.Extensions`` record, which the pipeline hands down.

Importing this package loads no plugin: loading is explicit.
"""
