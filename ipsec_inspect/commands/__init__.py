"""Sub-commands of ``ipsec-inspect``: one module each (see :mod:`ipsec_inspect.cli`)."""
