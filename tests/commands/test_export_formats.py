"""``export --format NAME`` looks the writer up in the run's exporter table: json is a row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import pytest

from ipsec_inspect.audit.rules import RULES
from ipsec_inspect.cli import build_parser
from ipsec_inspect.commands import export
from ipsec_inspect.core.errors import UsageError
from ipsec_inspect.core.extensions import Exporter, Extensions
from ipsec_inspect.export.formats import BUILTIN_EXPORTERS

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _run(ext: Extensions, *argv: str) -> int:
    args = build_parser().parse_args(["export", *argv])
    args.extensions = ext  # what the CLI composes at start-up
    return export.run(args)


def _count_sas(data: Any, out: TextIO) -> None:
    out.write(f"{len(data.result.ike_sas)} IKE SAs, {len(data.result.child_sas)} child SAs\n")


def test_json_is_the_first_row_of_the_builtin_table() -> None:
    assert [e.name for e in BUILTIN_EXPORTERS] == ["json"]


def test_without_the_json_row_json_is_an_unknown_format(tmp_path: Path) -> None:
    ext = Extensions(rules=RULES, exporters={"sas": Exporter("sas", "SA counts", _count_sas)})
    with pytest.raises(UsageError, match=r"unknown export format 'json' \(known: sas\)"):
        _run(ext, str(SAMPLES / "ikev2-tunnel.pcapng"), "-o", str(tmp_path / "x"))


def test_any_row_is_an_export_format(tmp_path: Path) -> None:
    rows = {e.name: e for e in BUILTIN_EXPORTERS}
    rows["sas"] = Exporter("sas", "SA counts", _count_sas)
    ext = Extensions(rules=RULES, exporters=rows)
    out = tmp_path / "sas.txt"
    sample = str(SAMPLES / "ikev1-main-quick.pcap")
    assert _run(ext, "--format", "sas", sample, "-o", str(out)) == 0
    assert out.read_text() == "1 IKE SAs, 1 child SAs\n"
    doc_path = tmp_path / "doc.json"
    assert _run(ext, sample, "-o", str(doc_path)) == 0  # the default format is the json row
    doc = json.loads(doc_path.read_text())
    assert len(doc["ike_sas"]) == 1 and doc["capture"]["path"] == sample


def test_half_open_sas_are_parked_by_default_only_when_the_cap_allows_more_than_its_default(
    tmp_path: Path,
) -> None:
    from ipsec_inspect.lifecycle.flood import DEFAULT_MAX_SAS

    assert export.default_parking(DEFAULT_MAX_SAS) == -1  # the cap bounds memory
    assert export.default_parking(100) == -1
    assert export.default_parking(0) == export.PARK_HALF_OPEN  # no cap
    assert export.default_parking(DEFAULT_MAX_SAS + 1) == export.PARK_HALF_OPEN
    parser = build_parser(["export"])
    assert parser.parse_args(["export", "x.pcap"]).park_half_open is None  # resolved in run
    assert parser.parse_args(["export", "x.pcap", "--park-half-open", "5"]).park_half_open == 5
