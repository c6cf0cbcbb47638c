"""How SAs ended, beyond what :mod:`settle` reads from a single SA.

Placeholder replaced below.
"""

from __future__ import annotations

from ipsec_inspect.lifecycle.model import ChildSa, IkeSa


def explain_endings(ike_sas: dict[str, IkeSa], child_sas: dict[str, ChildSa]) -> None:
    return None
