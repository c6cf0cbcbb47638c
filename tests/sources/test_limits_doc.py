"""docs/limits.md and the code agree: every constant the table names exists in its module
with the value the table gives."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "limits.md"
ROW = re.compile(r"^\| `(\w+)` \| `([\w/]+)\.py` \| ([^|]+) \|", re.M)


def test_every_limit_in_the_table_matches_the_code() -> None:
    rows = ROW.findall(DOC.read_text())
    assert len(rows) >= 25
    for name, module, value in rows:
        mod = importlib.import_module("ipsec_inspect." + module.replace("/", "."))
        actual = getattr(mod, name)
        assert repr(actual) == value.strip(), f"{module}.{name} is {actual!r}, the doc says {value}"
