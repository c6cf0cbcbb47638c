"""The run's extension record is frozen: composed once, read by every layer, changed by none."""

from __future__ import annotations

import dataclasses

import pytest

from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables, Exporter, Extensions


def _write(_data: object, out: object) -> None:
    return None


def test_the_record_and_its_tables_are_read_only() -> None:
    rows = {"x": Exporter("x", "test rows", _write)}
    ext = Extensions(exporters=rows)
    rows["y"] = Exporter("y", "added later", _write)  # the caller's dict is not shared
    assert list(ext.exporters) == ["x"]
    with pytest.raises(TypeError):
        ext.exporters["z"] = rows["x"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ext.rules = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        NO_DISSECTORS.notify_names[(2, 40961)] = "X"  # type: ignore[index]


def test_vendor_names_exact_then_longest_prefix() -> None:
    tables = DissectorTables(
        vendor_exact={b"\x01\x02": "exact box"},
        vendor_prefixes=((b"\x01\x02\x03", "long prefix"), (b"\x01", "short prefix")),
    )
    assert tables.vendor_name(b"\x01\x02") == "exact box"
    assert tables.vendor_name(b"\x01\x02\x03\x04") == "long prefix"
    assert tables.vendor_name(b"\x01\x09") == "short prefix"
    assert tables.vendor_name(b"\x09") == ""
    assert NO_DISSECTORS.vendor_name(b"\x01\x02") == ""
